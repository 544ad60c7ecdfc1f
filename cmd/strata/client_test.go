package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestTopicHelpAndUsage: topic help prints the subcommands' usage; bad partition counts are usage
// errors naming the flag, caught before any broker is asked.
func TestTopicHelpAndUsage(t *testing.T) {
	for _, arg := range []string{"--help", "-h", "help"} {
		var out, errb bytes.Buffer
		if code := run([]string{"topic", arg}, nil, &out, &errb); code != 0 {
			t.Fatalf("topic %s: exit %d %q", arg, code, errb.String())
		}
		for _, want := range []string{"strata topic create TOPIC", "strata topic alter TOPIC", "describe", "delete", "list"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("topic %s: usage %q lacks %q", arg, out.String(), want)
			}
		}
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"topic", "create", "t", "--partitions", "0"}, "--partitions 0: want at least 1"},
		{[]string{"topic", "create", "t", "--partitions", "-3"}, "--partitions -3: want at least 1"},
		{[]string{"topic", "alter", "t", "--partitions", "0"}, "--partitions 0: want at least 1"},
		{[]string{"topic", "alter", "t"}, "alter needs --config k=v or --partitions N"},
		{[]string{"consume", "t", "--max", "-1"}, "--max -1"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var errb bytes.Buffer
			// An unreachable bootstrap: the usage error must come first.
			code := run(append(tc.args, "--bootstrap", "127.0.0.1:1"), nil, io.Discard, &errb)
			if code != 2 || !strings.Contains(errb.String(), tc.want) {
				t.Fatalf("exit %d, stderr %q; want 2 and %q", code, errb.String(), tc.want)
			}
		})
	}
	var errb bytes.Buffer
	if code := run([]string{"topic"}, nil, io.Discard, &errb); code != 2 || !strings.Contains(errb.String(), "want a subcommand") {
		t.Fatalf("topic alone: exit %d %q", code, errb.String())
	}
}

// TestClientAnswers drives the CLI's error answers, auto-creation, group commits and summary
// lines against a real server process.
func TestClientAnswers(t *testing.T) {
	p := startStrata(t, serverArgs(t.TempDir())...)
	bs := []string{"--bootstrap", p.kafka}
	// strata runs a command; it returns the exit code, stdout and stderr.
	strata := func(stdin string, args ...string) (int, string, string) {
		t.Helper()
		var out, errb bytes.Buffer
		code := run(append(args, bs...), strings.NewReader(stdin), &out, &errb)
		return code, out.String(), errb.String()
	}
	runOK := func(stdin string, args ...string) (string, string) {
		t.Helper()
		code, out, errs := strata(stdin, args...)
		if code != 0 {
			t.Fatalf("strata %v: exit %d: %s", args, code, errs)
		}
		return out, errs
	}
	// oneLine checks that stderr (not a terminal here) is a single summary line matching re.
	oneLine := func(what, stderr, re string) {
		t.Helper()
		if strings.Count(stderr, "\n") != 1 || strings.Contains(stderr, "\r") || !regexp.MustCompile(re).MatchString(stderr) {
			t.Errorf("%s: stderr %q, want one line matching %s", what, stderr, re)
		}
	}

	t.Run("errors", func(t *testing.T) {
		for _, tc := range []struct {
			args []string
			want string
		}{
			{[]string{"topic", "create", "c", "--config", "retention.mss=1"}, `strata topic: topic "c": INVALID_CONFIG: unknown topic config "retention.mss"` + "\n"},
			{[]string{"topic", "create", "c", "--config", "retention.ms=soon"}, `strata topic: topic "c": INVALID_CONFIG: invalid value for retention.ms: "soon" is not a long` + "\n"},
			{[]string{"topic", "create", "__consumer_offsets"}, `strata topic: INVALID_TOPIC_EXCEPTION: topic name "__consumer_offsets" is reserved: names starting with "__" are for internal topics` + "\n"},
			{[]string{"topic", "create", "__transaction_state"}, `is reserved`},
		} {
			code, _, errs := strata("", tc.args...)
			if code != 1 || !strings.Contains(errs, tc.want) {
				t.Errorf("strata %v: exit %d %q; want 1 and %q", tc.args, code, errs, tc.want)
			}
		}
		runOK("", "topic", "create", "four", "--partitions", "4")
		code, _, errs := strata("", "topic", "alter", "four", "--partitions", "2")
		if want := `strata topic: INVALID_PARTITIONS: topic "four" has 4 partitions and cannot shrink to 2: partitions can be added, not removed` + "\n"; code != 1 || errs != want {
			t.Errorf("shrink: exit %d %q; want 1 and %q", code, errs, want)
		}
		code, _, errs = strata("", "topic", "alter", "four", "--config", "retention.ms=x")
		if code != 1 || !strings.Contains(errs, `INVALID_CONFIG: invalid value for retention.ms`) {
			t.Errorf("alter config: exit %d %q", code, errs)
		}
		code, _, errs = strata("x\n", "produce", "__consumer_offsets")
		if code != 1 || !strings.Contains(errs, "reserved for internal topics") {
			t.Errorf("produce to __consumer_offsets: exit %d %q", code, errs)
		}
	})

	t.Run("produce auto-creates", func(t *testing.T) {
		out, errs := runOK("a\nb\nc\n", "produce", "auto")
		if out != "produced 3 records to auto\n" {
			t.Errorf("produce stdout %q", out)
		}
		oneLine("produce", errs, `^produce auto: 3 records sent, 3 acked in \d+\.\ds\n$`)
		out, errs = runOK("", "consume", "auto", "--from-beginning", "--to-end")
		if out != "a\nb\nc\n" {
			t.Errorf("consume --to-end: %q", out)
		}
		oneLine("consume --to-end", errs, `^consume auto: read 3 records; offsets 3/3 in \d+\.\ds\n$`)
	})

	t.Run("group commits what it printed", func(t *testing.T) {
		_, errs := runOK("", "topic", "create", "g", "--partitions", "1")
		oneLine("topic create", errs, `^topic g: 1/1 partitions led after \d+\.\ds\n$`)
		var in strings.Builder
		for i := 1; i <= 10; i++ {
			fmt.Fprintf(&in, "v%d\n", i)
		}
		runOK(in.String(), "produce", "g")
		for _, want := range []string{"v1\nv2\nv3\n", "v4\nv5\nv6\n"} {
			out, errs := runOK("", "consume", "g", "--group", "grp", "--from-beginning", "--max", "3")
			if out != want {
				t.Fatalf("consume --max 3: %q, want %q (the group must resume after the records printed)", out, want)
			}
			oneLine("consume --max", errs, `^consume g: read 3 records in \d+\.\ds\n$`)
		}
		cl, err := kgo.NewClient(kgo.SeedBrokers(p.kafka))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		offs, err := kadm.NewClient(cl).FetchOffsets(ctx, "grp")
		if err != nil {
			t.Fatal(err)
		}
		if o, ok := offs.Lookup("g", 0); !ok || o.At != 6 {
			t.Fatalf("committed %+v (found %v), want offset 6", o, ok)
		}
		// To the end from the committed offset: the rest, and no more.
		out, errs := runOK("", "consume", "g", "--group", "grp", "--to-end")
		if out != "v7\nv8\nv9\nv10\n" {
			t.Errorf("consume --to-end from the commit: %q", out)
		}
		oneLine("consume --to-end", errs, `^consume g: read 4 records; offsets 10/10 in \d+\.\ds\n$`)
	})

	t.Run("create waits for leaders", func(t *testing.T) {
		out, errs := runOK("", "topic", "create", "wide", "--partitions", "200")
		if out != "created topic wide (200 partitions)\n" {
			t.Errorf("create stdout %q", out)
		}
		oneLine("topic create", errs, `^topic wide: 200/200 partitions led after \d+\.\ds\n$`)
	})
}

// TestProduceWithoutAutoCreate: a broker that does not auto-create topics gets a clear answer, at
// once rather than after the producer's retries.
func TestProduceWithoutAutoCreate(t *testing.T) {
	p := startStrata(t, append(serverArgs(t.TempDir()), "--auto-create-topics=false")...)
	var out, errb bytes.Buffer
	start := time.Now()
	code := run([]string{"produce", "missing", "--bootstrap", p.kafka}, strings.NewReader("x\n"), &out, &errb)
	want := `topic "missing" does not exist and the broker does not auto-create topics; create it with: strata topic create missing`
	if code != 1 || !strings.Contains(errb.String(), want) {
		t.Fatalf("exit %d %q; want 1 and %q", code, errb.String(), want)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the answer took %v", d)
	}
}

// On a terminal the status line is rewritten in place and the summary replaces it; elsewhere only
// the summary is written.
func TestProgressLines(t *testing.T) {
	var b bytes.Buffer
	p := &progress{w: &b, tty: true}
	p.update("led %d/%d", 1, 4)
	p.update("led %d/%d", 3, 4)
	p.done("led %d/%d", 4, 4)
	if want := "\r\x1b[Kled 1/4\r\x1b[Kled 3/4\r\x1b[Kled 4/4\n"; b.String() != want {
		t.Errorf("terminal: %q, want %q", b.String(), want)
	}
	b.Reset()
	p = newProgress(&b)
	p.update("led %d/%d", 1, 4)
	p.done("led %d/%d", 4, 4)
	if want := "led 4/4\n"; b.String() != want {
		t.Errorf("not a terminal: %q, want %q", b.String(), want)
	}
	stop := p.ticking(func() string { return "creating" })
	time.Sleep(50 * time.Millisecond)
	stop()
	if want := "led 4/4\n"; b.String() != want {
		t.Errorf("not a terminal, ticking: %q, want %q", b.String(), want)
	}

	b.Reset()
	p = &progress{w: &b, tty: true, every: 5 * time.Millisecond}
	stop = p.ticking(func() string { return "creating" })
	time.Sleep(100 * time.Millisecond)
	stop()
	p.done("done")
	if out := b.String(); !regexp.MustCompile(`^(\r\x1b\[Kcreating \(\d+\.\ds\))+\r\x1b\[Kdone\n$`).MatchString(out) {
		t.Errorf("terminal, ticking: %q", out)
	}
}

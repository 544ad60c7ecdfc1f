//go:build unix

package compat

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

const toolRecords = 1000

// testConsoleTools drives Apache Kafka's own command-line tools (the classes behind
// kafka-topics.sh, kafka-console-producer.sh, kafka-console-consumer.sh and
// kafka-consumer-groups.sh, from the kafka-tools jar of testdata/compat/java) against the
// broker: create and describe a topic, produce keyed records, consume them in a group, describe
// the group (committed offsets cover everything, no lag), read the partition offsets, reset the
// group's offsets three ways, delete the group and the topic.
func testConsoleTools(t *testing.T, root string, b *broker) {
	base, missing := javaCommand("classic", false)(root)
	if missing != "" {
		if os.Getenv("STRATA_REQUIRE_TOOLS") == "1" {
			t.Fatalf("%s (STRATA_REQUIRE_TOOLS=1; run `make clients`)", missing)
		}
		t.Skipf("%s; run `make clients` to build it", missing)
	}
	if m, _ := filepath.Glob(filepath.Join(root, "testdata/compat/java/target/lib/kafka-tools-*.jar")); len(m) == 0 {
		t.Skip("kafka-tools jar missing from testdata/compat/java/target/lib; run `make clients`")
	}
	java := append([]string{}, base[:4]...) // java -Xmx256m -cp CLASSPATH
	ctx, cancel := context.WithTimeout(context.Background(), clientLimit)
	defer cancel()
	topic := topicName("console")
	group := topic + "-group"

	tool := func(stdin string, class string, args ...string) string {
		t.Helper()
		argv := append(append(append([]string{}, java...), class, "--bootstrap-server", b.addr), args...)
		start := time.Now()
		stdout, stderr, err := runProgramInput(ctx, argv, stdin)
		t.Logf("%s %s: %v", class[strings.LastIndex(class, ".")+1:], strings.Join(args, " "), time.Since(start).Round(time.Millisecond))
		if err != nil {
			t.Fatalf("%s %s: %v\nstdout:\n%s\nstderr:\n%s%s", class, strings.Join(args, " "), err,
				tail(stdout, 20), tail(stderr, 40), b.logTail())
		}
		return string(stdout)
	}

	tool("", "org.apache.kafka.tools.TopicCommand", "--create", "--topic", topic,
		"--partitions", strconv.Itoa(partitions), "--replication-factor", "1")
	if out := tool("", "org.apache.kafka.tools.TopicCommand", "--describe", "--topic", topic); !strings.Contains(out, fmt.Sprintf("PartitionCount: %d", partitions)) {
		t.Errorf("kafka-topics --describe does not show %d partitions:\n%s", partitions, out)
	}
	if out := tool("", "org.apache.kafka.tools.TopicCommand", "--list"); !containsLine(out, topic) {
		t.Errorf("kafka-topics --list does not list %s:\n%s", topic, out)
	}

	var in strings.Builder
	for i := range toolRecords {
		fmt.Fprintf(&in, "%s:%s\n", key(i), value(i))
	}
	tool(in.String(), "org.apache.kafka.tools.ConsoleProducer", "--topic", topic,
		"--reader-property", "parse.key=true", "--reader-property", "key.separator=:",
		"--command-property", "enable.idempotence=true", "--command-property", "acks=all")

	out := tool("", "org.apache.kafka.tools.consumer.ConsoleConsumer", "--topic", topic,
		"--group", group, "--from-beginning", "--max-messages", strconv.Itoa(toolRecords),
		"--timeout-ms", "60000", "--formatter-property", "print.partition=true",
		"--formatter-property", "print.offset=true", "--formatter-property", "print.key=true")
	tl := newTally()
	for i := range toolRecords {
		tl.ack(i)
	}
	n := 0
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		// Partition:1	Offset:0	k3	v3
		f := strings.Split(line, "\t")
		if len(f) != 4 || !strings.HasPrefix(f[0], "Partition:") || !strings.HasPrefix(f[1], "Offset:") {
			continue
		}
		p, err1 := strconv.Atoi(strings.TrimPrefix(f[0], "Partition:"))
		o, err2 := strconv.ParseInt(strings.TrimPrefix(f[1], "Offset:"), 10, 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("unparsable console consumer line %q", line)
		}
		tl.record(int32(p), o, []byte(f[3]))
		n++
	}
	s := tl.summary("kafka-console-consumer", n, 0)
	t.Logf("console consumer: %d records, %d duplicates, %d missing, in order %v", n, s.Duplicates, s.Missing, s.InOrder)
	if s.Missing != 0 || s.Duplicates != 0 || !s.InOrder || n != toolRecords {
		t.Errorf("kafka-console-consumer read %d records (want %d): %d missing, %d duplicates, in order %v",
			n, toolRecords, s.Missing, s.Duplicates, s.InOrder)
	}

	if out := tool("", "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand", "--list"); !containsLine(out, group) {
		t.Errorf("kafka-consumer-groups --list does not list %s:\n%s", group, out)
	}
	groups := "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand"
	describe := func(wantCommitted, wantLag int64) {
		t.Helper()
		out := tool("", groups, "--describe", "--group", group)
		rows, committed, lag := parseDescribe(t, out, group, topic)
		if rows != partitions || committed != wantCommitted || lag != wantLag {
			t.Errorf("kafka-consumer-groups --describe: %d partition rows (want %d), committed %d (want %d), lag %d (want %d):\n%s",
				rows, partitions, committed, wantCommitted, lag, wantLag, out)
		}
	}
	describe(toolRecords, 0)

	// ListOffsets through kafka-get-offsets: latest sums to the record count, earliest is 0.
	for _, c := range []struct {
		time string
		want int64
	}{{"-1", toolRecords}, {"-2", 0}} {
		out := tool("", "org.apache.kafka.tools.GetOffsetShell", "--topic", topic, "--time", c.time)
		var sum int64
		lines := 0
		for _, l := range strings.Fields(out) {
			f := strings.Split(l, ":")
			if len(f) == 3 && f[0] == topic {
				o, err := strconv.ParseInt(f[2], 10, 64)
				if err != nil {
					t.Fatalf("kafka-get-offsets: unparsable line %q", l)
				}
				sum += o
				lines++
			}
		}
		if lines != partitions || sum != c.want {
			t.Errorf("kafka-get-offsets --time %s: %d partitions summing to %d, want %d summing to %d:\n%s",
				c.time, lines, sum, partitions, c.want, out)
		}
	}

	// Offset resets through the admin API (OffsetCommit outside a generation, ListOffsets by
	// time), each followed by --describe.
	tool("", groups, "--reset-offsets", "--group", group, "--topic", topic, "--to-earliest", "--execute")
	describe(0, toolRecords)
	tool("", groups, "--reset-offsets", "--group", group, "--topic", topic, "--to-datetime", "2000-01-01T00:00:00.000", "--execute")
	describe(0, toolRecords)
	tool("", groups, "--reset-offsets", "--group", group, "--topic", topic, "--to-latest", "--execute")
	describe(toolRecords, 0)

	tool("", groups, "--delete", "--group", group)
	if out := tool("", groups, "--list"); containsLine(out, group) {
		t.Errorf("kafka-consumer-groups --list still lists %s after --delete:\n%s", group, out)
	}
	tool("", "org.apache.kafka.tools.TopicCommand", "--delete", "--topic", topic)
}

// parseDescribe sums the rows of `kafka-consumer-groups --describe` for group and topic:
// GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG CONSUMER-ID HOST CLIENT-ID
func parseDescribe(t *testing.T, out, group, topic string) (rows int, committed, lag int64) {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 6 || f[0] != group || f[1] != topic {
			continue
		}
		cur, err1 := strconv.ParseInt(f[3], 10, 64)
		l, err2 := strconv.ParseInt(f[5], 10, 64)
		if err1 != nil || err2 != nil {
			t.Errorf("kafka-consumer-groups --describe: unparsable row %q", line)
			continue
		}
		committed += cur
		lag += l
		rows++
	}
	return rows, committed, lag
}

func containsLine(out, want string) bool {
	for _, l := range strings.Split(out, "\n") {
		if strings.TrimSpace(l) == want {
			return true
		}
	}
	return false
}

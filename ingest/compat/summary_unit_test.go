//go:build unix

package compat

import (
	"strconv"
	"strings"
	"testing"
)

// The checks must be able to fail: each way a client can go wrong is caught.
func TestSummaryProblems(t *testing.T) {
	good := Summary{Client: "x", Produced: 10, Consumed: 10, FirstConsumer: 5, SecondConsumer: 5, InOrder: true}
	tests := []struct {
		name string
		edit func(*Summary)
		want string // substring of the only problem; "" = pass
	}{
		{"pass", func(*Summary) {}, ""},
		{"short produce", func(s *Summary) { s.Produced, s.Consumed, s.SecondConsumer = 9, 9, 4 }, "produced 9 of 10"},
		{"missing", func(s *Summary) { s.Missing = 1 }, "never consumed"},
		{"duplicates", func(s *Summary) { s.Duplicates, s.Consumed, s.SecondConsumer = 2, 12, 7 }, "consumed twice"},
		{"out of order", func(s *Summary) { s.InOrder = false }, "out of order"},
		{"first read all", func(s *Summary) { s.FirstConsumer, s.SecondConsumer = 10, 0 }, "first consumer processed 10"},
		{"first read none", func(s *Summary) { s.FirstConsumer, s.SecondConsumer = 0, 10 }, "first consumer processed 0"},
		{"counts disagree", func(s *Summary) { s.SecondConsumer = 4 }, "first 5 + second 4"},
		{"consumed disagrees", func(s *Summary) { s.Consumed, s.SecondConsumer = 11, 6 }, "want produced+duplicates"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := good
			tt.edit(&s)
			got := s.problems(10)
			if tt.want == "" {
				if len(got) != 0 {
					t.Fatalf("problems = %q, want none", got)
				}
				return
			}
			if len(got) != 1 || !strings.Contains(got[0], tt.want) {
				t.Fatalf("problems = %q, want one containing %q", got, tt.want)
			}
		})
	}
}

func TestTally(t *testing.T) {
	type rec struct {
		p   int32
		off int64
		seq int
	}
	tests := []struct {
		name    string
		acked   int
		records []rec
		want    Summary
	}{
		{"clean", 3, []rec{{0, 0, 0}, {1, 0, 1}, {0, 1, 2}},
			Summary{Produced: 3, Consumed: 3, InOrder: true}},
		{"duplicate", 2, []rec{{0, 0, 0}, {0, 1, 1}, {0, 1, 1}},
			Summary{Produced: 2, Consumed: 3, Duplicates: 1, InOrder: false}},
		{"missing", 3, []rec{{0, 0, 0}, {0, 2, 2}},
			Summary{Produced: 3, Consumed: 2, Missing: 1, InOrder: true}},
		{"sequence goes back in a partition", 2, []rec{{0, 0, 1}, {0, 1, 0}},
			Summary{Produced: 2, Consumed: 2, InOrder: false}},
		{"other partitions interleave freely", 4, []rec{{0, 0, 2}, {1, 0, 0}, {0, 1, 3}, {1, 1, 1}},
			Summary{Produced: 4, Consumed: 4, InOrder: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tl := newTally()
			for i := range tt.acked {
				tl.ack(i)
			}
			for _, r := range tt.records {
				tl.record(r.p, r.off, []byte("v"+strconv.Itoa(r.seq)))
			}
			got := tl.summary("", 0, 0)
			if got != tt.want {
				t.Fatalf("summary = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestParseSummary(t *testing.T) {
	out := []byte("noise\n{\"not\":\"a summary\"}\n" +
		`{"client":"kcat","produced":3,"consumed":3,"first_consumer":1,"second_consumer":2,"duplicates":0,"missing":0,"per_partition_in_order":true}` +
		"\ntrailing log line\n")
	s, err := parseSummary(out)
	if err != nil {
		t.Fatal(err)
	}
	want := Summary{Client: "kcat", Produced: 3, Consumed: 3, FirstConsumer: 1, SecondConsumer: 2, InOrder: true}
	if s != want {
		t.Fatalf("got %+v, want %+v", s, want)
	}
	if _, err := parseSummary([]byte("{}\nnothing here")); err == nil {
		t.Fatal("parseSummary accepted output without a summary")
	}
}

// Client output is bytes from outside the test: parsing it never panics.
func FuzzParseSummary(f *testing.F) {
	f.Add([]byte(`{"client":"java","produced":10000,"consumed":10000,"per_partition_in_order":true}`))
	f.Add([]byte("{\n{\"client\":1}\n\x00{"))
	f.Fuzz(func(t *testing.T, out []byte) {
		s, err := parseSummary(out)
		if err == nil && s.Client == "" {
			t.Fatalf("accepted a summary without a client: %+v", s)
		}
		_ = s.problems(recordCount)
	})
}

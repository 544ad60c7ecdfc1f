//go:build unix

package compat

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
)

// Scenario constants shared by every client.
const (
	recordCount = 10000
	partitions  = 3
)

// Summary is the one JSON line each client prints.
type Summary struct {
	Client         string `json:"client"`
	ClientVersion  string `json:"client_version,omitempty"`
	GroupProtocol  string `json:"group_protocol,omitempty"`
	Produced       int    `json:"produced"`
	Consumed       int    `json:"consumed"`
	FirstConsumer  int    `json:"first_consumer"`
	SecondConsumer int    `json:"second_consumer"`
	Duplicates     int    `json:"duplicates"`
	Missing        int    `json:"missing"`
	InOrder        bool   `json:"per_partition_in_order"`
}

var errNoSummary = errors.New("compat: no JSON summary line in the client's output")

// parseSummary finds the last line of out that decodes as a Summary.
func parseSummary(out []byte) (Summary, error) {
	lines := bytes.Split(bytes.TrimSpace(out), []byte("\n"))
	for i := len(lines) - 1; i >= 0; i-- {
		line := bytes.TrimSpace(lines[i])
		if len(line) == 0 || line[0] != '{' {
			continue
		}
		var s Summary
		if err := json.Unmarshal(line, &s); err == nil && s.Client != "" {
			return s, nil
		}
	}
	return Summary{}, errNoSummary
}

// problems lists every way s falls short of the scenario with want records; nil means pass.
func (s Summary) problems(want int) []string {
	var p []string
	if s.Produced != want {
		p = append(p, fmt.Sprintf("produced %d of %d records", s.Produced, want))
	}
	if s.Missing != 0 {
		p = append(p, fmt.Sprintf("%d acknowledged records never consumed", s.Missing))
	}
	if s.Duplicates != 0 {
		p = append(p, fmt.Sprintf("%d records consumed twice (commit or resume failed)", s.Duplicates))
	}
	if !s.InOrder {
		p = append(p, "records out of order within a partition")
	}
	if s.Consumed != s.Produced+s.Duplicates {
		p = append(p, fmt.Sprintf("consumed %d, want produced+duplicates = %d", s.Consumed, s.Produced+s.Duplicates))
	}
	if s.FirstConsumer <= 0 || s.FirstConsumer >= want {
		p = append(p, fmt.Sprintf("first consumer processed %d records, want between 0 and %d exclusive", s.FirstConsumer, want))
	}
	if s.FirstConsumer+s.SecondConsumer != s.Consumed {
		p = append(p, fmt.Sprintf("first %d + second %d != consumed %d", s.FirstConsumer, s.SecondConsumer, s.Consumed))
	}
	return p
}

// tally records what both consumers of an in-process client saw. Safe for concurrent use.
type tally struct {
	mu         sync.Mutex
	acked      map[int]bool
	seen       map[int]bool
	consumed   int
	duplicates int
	inOrder    bool
	lastOffset map[int32]int64
	lastSeq    map[int32]int
}

func newTally() *tally {
	return &tally{
		acked:      map[int]bool{},
		seen:       map[int]bool{},
		inOrder:    true,
		lastOffset: map[int32]int64{},
		lastSeq:    map[int32]int{},
	}
}

func (t *tally) ack(seq int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.acked[seq] = true
}

func (t *tally) producedCount() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.acked)
}

func (t *tally) uniqueSeen() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.seen)
}

// record notes one consumed record; the caller holds t.mu (see lockedRecord).
func (t *tally) recordLocked(partition int32, offset int64, value []byte) {
	t.consumed++
	seq := -1
	if len(value) > 1 && value[0] == 'v' {
		if n, err := strconv.Atoi(string(value[1:])); err == nil {
			seq = n
		}
	}
	if t.seen[seq] {
		t.duplicates++
	} else {
		t.seen[seq] = true
	}
	if lo, ok := t.lastOffset[partition]; ok && offset <= lo {
		t.inOrder = false
	}
	if ls, ok := t.lastSeq[partition]; ok && seq <= ls {
		t.inOrder = false
	}
	t.lastOffset[partition] = offset
	t.lastSeq[partition] = seq
}

func (t *tally) record(partition int32, offset int64, value []byte) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.recordLocked(partition, offset, value)
}

func (t *tally) summary(client string, first, second int) Summary {
	t.mu.Lock()
	defer t.mu.Unlock()
	missing := 0
	for seq := range t.acked {
		if !t.seen[seq] {
			missing++
		}
	}
	return Summary{
		Client:         client,
		Produced:       len(t.acked),
		Consumed:       t.consumed,
		FirstConsumer:  first,
		SecondConsumer: second,
		Duplicates:     t.duplicates,
		Missing:        missing,
		InOrder:        t.inOrder,
	}
}

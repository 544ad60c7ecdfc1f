package segmenttest

import (
	"testing"

	"github.com/strata-log/strata/tier/segment"
)

// Infos validates every whole batch of b (CRC included) and returns their headers; a test fails
// on bytes that are not whole, valid batches.
func Infos(t testing.TB, b []byte) []segment.BatchInfo {
	t.Helper()
	var out []segment.BatchInfo
	s := segment.NewSplitter(b)
	for s.Next() {
		out = append(out, s.Info())
	}
	if err := s.Err(); err != nil {
		t.Fatalf("invalid batches: %v", err)
	}
	return out
}

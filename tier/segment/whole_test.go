package segment_test

import (
	"encoding/binary"
	"testing"

	"github.com/strata-log/strata/tier/segment"
	"github.com/strata-log/strata/tier/segment/segmenttest"
)

func TestWholeBatches(t *testing.T) {
	a := segmenttest.Records(0, 1000, 3, 50)
	b := segmenttest.Records(3, 1000, 2, 70)
	two := append(append([]byte(nil), a...), b...)
	badLen := append([]byte(nil), two...)
	binary.BigEndian.PutUint32(badLen[len(a)+8:], 1) // the second batch's length field below a header
	cases := []struct {
		name string
		in   []byte
		want int
	}{
		{"empty", nil, 0},
		{"short of a header", a[:segment.BatchHeaderSize-1], 0},
		{"first batch cut", a[:len(a)-1], 0},
		{"one batch", a, len(a)},
		{"two batches", two, len(two)},
		{"second batch cut", two[:len(two)-1], len(a)},
		{"second header cut", two[:len(a)+10], len(a)},
		{"bad length ends the prefix", badLen, len(a)},
	}
	for _, tc := range cases {
		if got := segment.WholeBatches(tc.in); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
}

func FuzzWholeBatches(f *testing.F) {
	f.Add(segmenttest.Records(0, 1000, 3, 50))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		if n := segment.WholeBatches(b); n < 0 || n > len(b) {
			t.Fatalf("prefix %d of %d bytes", n, len(b))
		}
	})
}

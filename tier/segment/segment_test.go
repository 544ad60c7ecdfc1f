package segment_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/strata-log/strata/tier/segment"
	"github.com/strata-log/strata/tier/segment/segmenttest"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

// testBatches returns n batches with varying record counts and sizes, contiguous from base, with
// non-monotonic timestamps; batch i's max timestamp is 1000+37*((i*7)%n).
func testBatches(base int64, n int) [][]byte {
	var out [][]byte
	for i := range n {
		recs := 1 + i%4
		vals := make([][]byte, recs)
		for j := range vals {
			vals[j] = bytes.Repeat([]byte{byte('a' + (i+j)%26)}, 20+(i*13+j)%200)
		}
		maxTS := int64(1000 + 37*((i*7)%n))
		ts := make([]int64, recs)
		for j := range ts {
			ts[j] = maxTS - int64(recs-1-j)
		}
		out = append(out, segmenttest.Batch{BaseOffset: base, FirstTimestamp: ts[0], Timestamps: ts, Values: vals}.Encode())
		base += int64(recs)
	}
	return out
}

func writeSegment(t testing.TB, base int64, batches [][]byte, interval int) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := segment.NewWriter(&buf, base, interval)
	for _, b := range batches {
		if _, err := w.Append(b); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.Seal(); err != nil {
		t.Fatal(err)
	}
	if w.Size() != int64(buf.Len()) {
		t.Fatalf("Size %d, wrote %d", w.Size(), buf.Len())
	}
	return buf.Bytes()
}

func TestWriterReaderRoundTrip(t *testing.T) {
	for _, interval := range []int{1, 300, 4096, 1 << 20} {
		t.Run(fmt.Sprint("interval=", interval), func(t *testing.T) {
			const base = 1000
			batches := testBatches(base, 60)
			data := writeSegment(t, base, batches, interval)
			r, err := segment.OpenReader(bytes.NewReader(data), int64(len(data)))
			if err != nil {
				t.Fatal(err)
			}
			if err := r.Verify(); err != nil {
				t.Fatal(err)
			}
			ix := r.Index()
			var infos []segment.BatchInfo
			var positions []int64
			pos := int64(0)
			for _, b := range batches {
				info, _ := segment.ParseBatch(b)
				infos = append(infos, info)
				positions = append(positions, pos)
				pos += int64(len(b))
			}
			last := infos[len(infos)-1]
			if ix.BaseOffset != base || ix.NextOffset != last.NextOffset() || ix.DataSize != pos || ix.Batches != 60 {
				t.Fatalf("index %+v", ix)
			}
			// FindOffset for every offset, and just outside.
			for i, info := range infos {
				for off := info.BaseOffset; off <= info.LastOffset(); off++ {
					p, got, err := r.FindOffset(off)
					if err != nil || p != positions[i] || got != info {
						t.Fatalf("FindOffset(%d) = %d %+v %v, want %d", off, p, got, err, positions[i])
					}
				}
			}
			for _, off := range []int64{base - 1, ix.NextOffset, -5} {
				if _, _, err := r.FindOffset(off); !errors.Is(err, segment.ErrOutOfRange) {
					t.Fatalf("FindOffset(%d) err %v", off, err)
				}
			}
			// ReadBatches: everything, then budgets.
			all, end, err := r.ReadBatches(nil, 0, 1<<30, -1)
			if err != nil || end != ix.DataSize || !bytes.Equal(all, data[:ix.DataSize]) {
				t.Fatalf("read all: %v", err)
			}
			got, end, _ := r.ReadBatches(nil, positions[3], 1, -1)
			if !bytes.Equal(got, batches[3]) || end != positions[4] {
				t.Fatal("maxBytes=1 must still return one whole batch")
			}
			budget := len(batches[3]) + len(batches[4]) + len(batches[5]) - 1
			got, _, _ = r.ReadBatches(nil, positions[3], budget, -1)
			if !bytes.Equal(got, bytes.Join(batches[3:5], nil)) {
				t.Fatal("budget must stop before the batch that does not fit")
			}
			got, _, _ = r.ReadBatches([]byte("x"), positions[3], 10, -1)
			if string(got) != "x" {
				t.Fatal("a non-empty dst must not get a batch past the budget")
			}
			got, _, _ = r.ReadBatches(nil, positions[3], 1<<20, infos[6].BaseOffset)
			if !bytes.Equal(got, bytes.Join(batches[3:6], nil)) {
				t.Fatal("limit must stop before the batch at the limit")
			}
			// BatchesEnd ends where ReadBatches does, from every batch, for every budget and limit.
			for i := range positions {
				for _, have := range []int{0, 1} {
					for _, budget := range []int{0, 1, len(batches[i]), len(batches[i]) + 1, 3 * len(batches[i]), 1 << 30} {
						for _, limit := range []int64{-1, infos[i].BaseOffset, infos[min(i+2, len(infos)-1)].BaseOffset} {
							want, wantEnd, werr := r.ReadBatches(make([]byte, have), positions[i], budget, limit)
							gotEnd, last, err := r.BatchesEnd(positions[i], have, budget, limit)
							if err != nil || werr != nil || gotEnd != wantEnd || gotEnd-positions[i] != int64(len(want)-have) {
								t.Fatalf("BatchesEnd(%d, %d, %d, %d) = %d, %v; ReadBatches ends at %d (%d bytes), %v",
									positions[i], have, budget, limit, gotEnd, err, wantEnd, len(want)-have, werr)
							}
							wantLast := int64(-1)
							for _, info := range segmenttest.Infos(t, want[have:]) {
								wantLast = info.LastOffset()
							}
							if last != wantLast {
								t.Fatalf("BatchesEnd(%d, %d, %d, %d): last offset %d, want %d", positions[i], have, budget, limit, last, wantLast)
							}
						}
					}
				}
			}
			// Scan sees every batch.
			n := 0
			_ = r.Scan(0, func(p int64, info segment.BatchInfo) error {
				if p != positions[n] || info != infos[n] {
					t.Fatalf("scan %d wrong", n)
				}
				n++
				return nil
			})
			if n != len(infos) {
				t.Fatalf("scanned %d", n)
			}
		})
	}
}

func TestEmptySegment(t *testing.T) {
	data := writeSegment(t, 77, nil, 0)
	r, err := segment.OpenReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if ix := r.Index(); ix.BaseOffset != 77 || ix.NextOffset != 77 || ix.DataSize != 0 || ix.MaxTimestamp != -1 {
		t.Fatalf("%+v", ix)
	}
	if _, _, ok, err := r.FindRecord(0, 77); ok || err != nil {
		t.Fatalf("found a timestamp in an empty segment (err %v)", err)
	}
	if got, _, err := r.ReadBatches(nil, 0, 100, -1); err != nil || len(got) != 0 {
		t.Fatal("read from empty segment")
	}
}

func TestWriterRejectsOffsetsGoingBack(t *testing.T) {
	var buf bytes.Buffer
	w := segment.NewWriter(&buf, 10, 0)
	if _, err := w.Append(segmenttest.Records(9, 0, 1, 1)); err == nil {
		t.Fatal("accepted a batch below the base offset")
	}
	if _, err := w.Append(segmenttest.Records(10, 0, 2, 1)); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Append(segmenttest.Records(11, 0, 1, 1)); err == nil {
		t.Fatal("accepted an overlapping batch")
	}
	if _, err := w.Append(segmenttest.Records(20, 0, 1, 1)); err != nil {
		t.Fatalf("a gap (compaction) must be allowed: %v", err)
	}
	if _, err := w.Seal(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Append(segmenttest.Records(30, 0, 1, 1)); !errors.Is(err, segment.ErrSealed) {
		t.Fatalf("append after seal: %v", err)
	}
	r, err := segment.OpenReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		t.Fatal(err)
	}
	// An offset in the gap finds the next batch.
	if _, info, err := r.FindOffset(15); err != nil || info.BaseOffset != 20 {
		t.Fatalf("FindOffset in gap: %+v %v", info, err)
	}
}

func TestOpenReaderRejects(t *testing.T) {
	good := writeSegment(t, 0, testBatches(0, 20), 500)
	n := len(good)
	mut := func(f func(b []byte)) []byte { b := append([]byte(nil), good...); f(b); return b }
	cases := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"data only", good[:n-segment.FooterSize-100]},
		{"footer cut", good[:n-1]},
		{"bad magic", mut(func(b []byte) { b[n-1] ^= 1 })},
		{"version 2", mut(func(b []byte) { binary.BigEndian.PutUint16(b[n-segment.FooterSize+12:], 2) })},
		{"crc", mut(func(b []byte) { b[n-segment.FooterSize+16] ^= 1 })},
		{"index byte", mut(func(b []byte) { b[n-segment.FooterSize-3] ^= 1 })},
		{"index position", mut(func(b []byte) { b[n-segment.FooterSize+7]++ })},
		{"extra byte before footer", append(append(append([]byte(nil), good[:n-segment.FooterSize]...), 0), good[n-segment.FooterSize:]...)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := segment.OpenReader(bytes.NewReader(tc.b), int64(len(tc.b))); !errors.Is(err, segment.ErrCorrupt) {
				t.Fatalf("err = %v, want ErrCorrupt", err)
			}
		})
	}
	// A flipped data byte passes the footer check but not Verify.
	bad := mut(func(b []byte) { b[500] ^= 1 })
	r, err := segment.OpenReader(bytes.NewReader(bad), int64(len(bad)))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Verify(); !errors.Is(err, segment.ErrCorrupt) {
		t.Fatalf("Verify = %v", err)
	}
}

func TestRecoverEveryCut(t *testing.T) {
	batches := testBatches(50, 12)
	data := bytes.Join(batches, nil)
	var bounds []int64 // batch end positions
	var nexts []int64
	pos := int64(0)
	for _, b := range batches {
		pos += int64(len(b))
		bounds = append(bounds, pos)
		info, _ := segment.ParseBatch(b)
		nexts = append(nexts, info.NextOffset())
	}
	for cut := 0; cut <= len(data); cut++ {
		rec, err := segment.Recover(bytes.NewReader(data[:cut]), int64(cut), 50, 256)
		if err != nil {
			t.Fatal(err)
		}
		wantSize, wantNext := int64(0), int64(50)
		for i, b := range bounds {
			if b <= int64(cut) {
				wantSize, wantNext = b, nexts[i]
			}
		}
		if rec.Index.DataSize != wantSize || rec.Index.NextOffset != wantNext {
			t.Fatalf("cut %d: valid %d next %d, want %d %d", cut, rec.Index.DataSize, rec.Index.NextOffset, wantSize, wantNext)
		}
		if (rec.Torn == nil) != (wantSize == int64(cut)) {
			t.Fatalf("cut %d: torn = %v", cut, rec.Torn)
		}
	}
	// Recover's index equals the Writer's for the same batches.
	full, _ := segment.Recover(bytes.NewReader(data), int64(len(data)), 50, 256)
	sealed := writeSegment(t, 50, batches, 256)
	r, _ := segment.OpenReader(bytes.NewReader(sealed), int64(len(sealed)))
	if fmt.Sprint(full.Index) != fmt.Sprint(r.Index()) {
		t.Fatalf("recovered index %+v\nwritten index %+v", full.Index, r.Index())
	}
	// A gap in offsets stops recovery; so does a sealed trailer after the data.
	gapped := append(append([]byte(nil), data...), segmenttest.Records(nexts[len(nexts)-1]+5, 0, 1, 1)...)
	rec, _ := segment.Recover(bytes.NewReader(gapped), int64(len(gapped)), 50, 0)
	if rec.Index.DataSize != int64(len(data)) || !errors.Is(rec.Torn, segment.ErrCorrupt) {
		t.Fatalf("gap: %+v %v", rec.Index, rec.Torn)
	}
	rec, _ = segment.Recover(bytes.NewReader(sealed), int64(len(sealed)), 50, 0)
	if rec.Index.DataSize != int64(len(data)) {
		t.Fatalf("trailer read as batches: valid %d", rec.Index.DataSize)
	}
}

// The golden segment pins the format: the Writer must reproduce it byte for byte, and the Reader must
// read it. Regenerate with -update only for a deliberate format change (and bump Version).
func TestGolden(t *testing.T) {
	path := filepath.Join("testdata", fmt.Sprintf("v%d.seg", segment.Version))
	batches := testBatches(100, 8)
	batches = append(batches, gzipBatch(t, 100+20))
	got := writeSegment(t, 100, batches, 512)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("writer output differs from %s (%d vs %d bytes): the format changed", path, len(got), len(want))
	}
	r, err := segment.OpenReader(bytes.NewReader(want), int64(len(want)))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Verify(); err != nil {
		t.Fatal(err)
	}
	ix := r.Index()
	if ix.BaseOffset != 100 || ix.NextOffset != 124 || ix.Batches != 9 {
		t.Fatalf("golden index %+v", ix)
	}
	all, _, err := r.ReadBatches(nil, 0, 1<<20, -1)
	if err != nil || !bytes.Equal(all, bytes.Join(batches, nil)) {
		t.Fatalf("golden batches differ: %v", err)
	}
}

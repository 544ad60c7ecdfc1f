package query

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/tier"
	"github.com/strata-log/strata/tier/columnar"
	"github.com/strata-log/strata/tier/segment"
)

func TestPickGroups(t *testing.T) {
	// Four groups of 20 offsets over [0, 80), a millisecond per offset from 1000; the object ends at 85
	// (an empty batch after the last group).
	groups := []columnar.RowGroup{
		{FirstBase: 0, MinOffset: 0, MaxOffset: 19, MinTimestamp: 1000, MaxTimestamp: 1019, Rows: 20},
		{FirstBase: 20, MinOffset: 20, MaxOffset: 39, MinTimestamp: 1020, MaxTimestamp: 1039, Rows: 20},
		{FirstBase: 40, MinOffset: 40, MaxOffset: 59, MinTimestamp: 1040, MaxTimestamp: 1059, Rows: 20},
		{FirstBase: 60, MinOffset: 60, MaxOffset: 79, MinTimestamp: 1060, MaxTimestamp: 1079, Rows: 20},
	}
	all := offsetRange{0, 85}
	window := func(lo, hi int64) Bounds { b := Unbounded(); b.MinTime, b.MaxTime = lo, hi; return b }
	for _, tc := range []struct {
		name   string
		r      offsetRange
		b      Bounds
		want   []offsetRange
		pruned int
	}{
		{"unbounded", all, Unbounded(), []offsetRange{{0, 85}}, 0},
		{"one group", all, window(1025, 1030), []offsetRange{{20, 40}}, 3},
		{"two adjacent groups", all, window(1019, 1040), []offsetRange{{0, 60}}, 1},
		{"the ends", all, window(1000, 1000), []offsetRange{{0, 20}}, 3},
		{"the last group runs to the object's end", all, window(1079, math.MaxInt64), []offsetRange{{60, 85}}, 3},
		{"between groups' times", all, window(1200, 1300), nil, 4},
		{"a range starting inside a group", offsetRange{30, 85}, window(1000, 1045), []offsetRange{{30, 60}}, 1},
		{"a range ending inside a group", offsetRange{0, 50}, window(1045, 1100), []offsetRange{{40, 50}}, 2},
		// Timestamps are not ordered by offset: a group whose statistics reach the window is read.
		{"groups out of time order", all, window(1010, 1010), []offsetRange{{0, 20}}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reads, pruned := pickGroups(groups, nil, 85, tc.r, tc.b)
			got := merged(reads)
			if !slices.Equal(got, tc.want) || pruned != tc.pruned {
				t.Fatalf("groupRanges = %v, %d pruned; want %v, %d", got, pruned, tc.want, tc.pruned)
			}
		})
	}
	// A group whose records' times are spread: kept whenever its min–max reaches the window.
	spread := []columnar.RowGroup{{FirstBase: 0, MinTimestamp: 0, MaxTimestamp: 5000}, {FirstBase: 10, MinTimestamp: 100, MaxTimestamp: 200}}
	if got, _ := pickGroups(spread, nil, 20, offsetRange{0, 20}, window(3000, 3001)); !slices.Equal(merged(got), []offsetRange{{0, 10}}) {
		t.Fatalf("spread group: %v", got)
	}
}

// merged is reads as the fewest offset ranges (adjacent groups' together).
func merged(reads []tier.ParquetGroupRead) (out []offsetRange) {
	for _, r := range reads {
		if n := len(out); n > 0 && out[n-1].to == r.From {
			out[n-1].to = r.To
			continue
		}
		out = append(out, offsetRange{r.From, r.To})
	}
	return out
}

// A time window or a key lookup over a Parquet topic reads only the row groups whose timestamps
// reach it or whose key bloom filter may hold the key, and answers as a full read would.
func TestParquetPruning(t *testing.T) {
	ctx := context.Background()
	store, bucket := newStoreAndBucket(t)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	const n = 400
	tail := &leaderTail{batches: map[int32][][]byte{}, hw: map[int32]int64{0: n}}
	var seg bytes.Buffer
	sw := segment.NewWriter(&seg, 0, 0)
	for base := int64(0); base < n; base += 10 {
		var recs []segment.Record
		for o := base; o < base+10; o++ {
			key := fmt.Appendf(nil, "k%d", o%7)
			if o >= 200 && o < 210 {
				key = []byte("rare") // in one row group only
			}
			recs = append(recs, segment.Record{Timestamp: t0 + o, Key: key,
				Value: fmt.Appendf(nil, `{"o":%d,"pad":"%0100d"}`, o, o)})
		}
		b := segment.AppendBatch(nil, segment.NewBatch{BaseOffset: base, FirstTimestamp: t0 + base,
			ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1, Records: recs})
		tail.batches[0] = append(tail.batches[0], b)
		if _, err := sw.Append(b); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := sw.Seal(); err != nil {
		t.Fatal(err)
	}
	obj, st := toParquet(t, seg.Bytes(), n, columnar.Options{RowGroupBytes: 2500}) // about 20 records a group
	ref, _ := putObject(t, store, bucket, "pq", metadata.FormatParquet, obj, n, st)
	reader, err := tier.NewReader(tier.ReaderConfig{Bucket: bucket, Store: store})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reader.Close() })
	e, err := New(Config{Topics: store, Catalogs: store, Objects: reader, Tail: tail, Registerer: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{e: e}
	groups, err := reader.ParquetRowGroups(ctx, ref)
	if err != nil || len(groups) < 10 {
		t.Fatalf("%d row groups, %v: want at least 10", len(groups), err)
	}
	ts := func(o int64) string {
		return "TIMESTAMP '" + time.UnixMilli(t0+o).UTC().Format("2006-01-02 15:04:05.000") + "'"
	}
	rows, full := f.rows(t, `SELECT count(*), sum(("offset")) FROM pq`)
	if got := fmt.Sprint(rows); got != fmt.Sprintf("[[%d %d]]", n, n*(n-1)/2) || full.RowGroupsPruned != 0 || full.Segment.Rows != n {
		t.Fatalf("full scan %s, %+v", got, full)
	}
	// The windows' columns (offset, timestamp) of every row group: what a window's bytes compare to,
	// as only the columns a query uses are read.
	rows, fullWindow := f.rows(t, `SELECT count(*), min("offset"), max("offset") FROM pq WHERE timestamp >= `+ts(-10))
	if got := fmt.Sprint(rows); got != fmt.Sprintf("[[%d 0 %d]]", n, n-1) || fullWindow.RowGroupsPruned != 0 {
		t.Fatalf("full window %s, %+v", got, fullWindow)
	}
	for _, tc := range []struct {
		name     string
		from, to int64 // offsets, hence milliseconds after t0: [from, to)
	}{
		{"inside one group", 205, 210},
		{"across groups", 95, 145},
		{"the first record", 0, 1},
		{"the last record", n - 1, n},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rows, st := f.rows(t, `SELECT count(*), min("offset"), max("offset") FROM pq WHERE timestamp >= `+ts(tc.from)+` AND timestamp < `+ts(tc.to))
			if got, want := fmt.Sprint(rows), fmt.Sprintf("[[%d %d %d]]", tc.to-tc.from, tc.from, tc.to-1); got != want {
				t.Fatalf("rows %s, want %s", got, want)
			}
			if st.RowGroupsPruned == 0 || st.Segment.Bytes*3 > fullWindow.Segment.Bytes {
				t.Fatalf("stats %+v: %d of the full scan's %d bytes", st, st.Segment.Bytes, fullWindow.Segment.Bytes)
			}
		})
	}
	// Key lookups: the bloom filters rule out every group but the one holding the key.
	for _, tc := range []struct {
		stmt, want string
	}{
		{`SELECT count(*), min("offset"), max("offset") FROM pq WHERE key = 'rare'`, "[[10 200 209]]"},
		{`SELECT count(*) FROM pq WHERE key = 'nowhere'`, "[[0]]"},
		{`SELECT count(*) FROM pq WHERE key = 'rare' AND timestamp >= ` + ts(300), "[[0]]"},
	} {
		rows, st := f.rows(t, tc.stmt)
		if got := fmt.Sprint(rows); got != tc.want {
			t.Fatalf("%s: rows %s, want %s", tc.stmt, got, tc.want)
		}
		if st.RowGroupsPruned < int64(len(groups))-2 || st.Segment.Bytes*5 > full.Segment.Bytes {
			t.Fatalf("%s: stats %+v: %d of the full scan's %d bytes, %d groups", tc.stmt, st, st.Segment.Bytes, full.Segment.Bytes, len(groups))
		}
	}
	// A key every group holds: nothing pruned, every row counted.
	if rows, st := f.rows(t, `SELECT count(*) FROM pq WHERE key = 'k3'`); fmt.Sprint(rows) != "[[56]]" || st.RowGroupsPruned != 0 {
		t.Fatalf("k3: %v, %+v", rows, st)
	}
	// Before every record: nothing read.
	rows, st2 := f.rows(t, `SELECT count(*) FROM pq WHERE timestamp < `+ts(-10))
	if fmt.Sprint(rows) != "[[0]]" || st2.Segment.Bytes != 0 {
		t.Fatalf("before everything: %v, %+v", rows, st2)
	}
}

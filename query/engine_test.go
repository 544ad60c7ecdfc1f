package query

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/metadata/memmeta"
	"github.com/strata-log/strata/tier"
	"github.com/strata-log/strata/tier/objstore"
	"github.com/strata-log/strata/tier/segment"
)

// leaderTail is a partition leader's log as Tail reads it: every batch since offset 0 (its hot
// log still holds what is tiered too), up to a high watermark.
type leaderTail struct {
	mu      sync.Mutex
	batches map[int32][][]byte
	hw      map[int32]int64
	fail    error // every read fails with it when set
	epoch   int32 // every partition's leader epoch
	reads   int   // ReadTail calls
}

func (l *leaderTail) LeaderEpoch(context.Context, metadata.TopicPartition) (int32, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.epoch, nil
}

func (l *leaderTail) ReadTail(_ context.Context, tp metadata.TopicPartition, offset int64, maxBytes int) ([]byte, int64, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.reads++
	if l.fail != nil {
		return nil, -1, l.fail
	}
	var out []byte
	for _, b := range l.batches[tp.Partition] {
		info, _ := segment.ParseBatch(b)
		if info.NextOffset() <= offset || info.BaseOffset >= l.hw[tp.Partition] {
			continue
		}
		if len(out) > 0 && len(out)+len(b) > maxBytes {
			break
		}
		out = append(out, b...)
	}
	return out, l.hw[tp.Partition], nil
}

func (l *leaderTail) OffsetForTime(_ context.Context, tp metadata.TopicPartition, ts int64) (int64, bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, b := range l.batches[tp.Partition] {
		info, _ := segment.ParseBatch(b)
		if info.MaxTimestamp >= ts && info.BaseOffset < l.hw[tp.Partition] {
			return info.BaseOffset, true, nil
		}
	}
	return -1, false, nil
}

// fixture is a topic "logs" of two partitions of 150 records each, one a millisecond apart
// from t0 (partition p's record o at t0 + o ms), in batches of 10: offsets [0, 100) of each are
// in two segment objects of 50, the rest only in the leader's log (which holds everything).
type fixture struct {
	e       *Engine
	reg     *prometheus.Registry
	t0      int64
	objects int64 // segment bytes in the bucket
	tail    *leaderTail
}

func newFixture(t *testing.T, cfg Config) *fixture {
	t.Helper()
	ctx := context.Background()
	store, err := memmeta.New(memmeta.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	bucket, err := objstore.NewFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	topic, err := store.CreateTopic(ctx, metadata.Topic{Name: "logs", Partitions: 2})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{reg: prometheus.NewRegistry(), t0: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()}
	tail := &leaderTail{batches: map[int32][][]byte{}, hw: map[int32]int64{}}
	f.tail = tail
	for p := range int32(2) {
		tp := metadata.TopicPartition{Topic: "logs", Partition: p}
		lease, err := store.AcquireLease(ctx, tp, 1)
		if err != nil {
			t.Fatal(err)
		}
		for base := int64(0); base < 150; base += 10 {
			var recs []segment.Record
			for o := base; o < base+10; o++ {
				recs = append(recs, segment.Record{Timestamp: f.t0 + o, Key: fmt.Appendf(nil, "k%d", o%7),
					Value: fmt.Appendf(nil, `{"p":%d,"o":%d,"even":%t}`, p, o, o%2 == 0)})
			}
			tail.batches[p] = append(tail.batches[p], segment.AppendBatch(nil, segment.NewBatch{BaseOffset: base,
				FirstTimestamp: f.t0 + base, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1, Records: recs}))
		}
		tail.hw[p] = 150
		for s := range 2 {
			var buf bytes.Buffer
			w := segment.NewWriter(&buf, int64(s*50), 0)
			for _, b := range tail.batches[p][s*5 : s*5+5] {
				if _, err := w.Append(b); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := w.Seal(); err != nil {
				t.Fatal(err)
			}
			key := tier.ObjectKey("", topic.ID, p, int64(s*50), lease.Epoch)
			if err := bucket.Put(ctx, key, bytes.NewReader(buf.Bytes()), int64(buf.Len())); err != nil {
				t.Fatal(err)
			}
			seg := metadata.SegmentRef{Key: key, BaseOffset: int64(s * 50), NextOffset: int64(s*50 + 50), Size: int64(buf.Len()),
				MinTimestamp: f.t0 + int64(s*50), MaxTimestamp: f.t0 + int64(s*50+49), Epoch: lease.Epoch, Records: 50}
			if err := store.RegisterSegment(ctx, tp, lease.Epoch, seg); err != nil {
				t.Fatal(err)
			}
			f.objects += int64(buf.Len())
		}
	}
	reader, err := tier.NewReader(tier.ReaderConfig{Bucket: bucket, Store: store})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reader.Close() })
	cfg.Topics, cfg.Catalogs, cfg.Objects, cfg.Tail, cfg.Registerer = store, store, reader, tail, f.reg
	if f.e, err = New(cfg); err != nil {
		t.Fatal(err)
	}
	return f
}

// rows runs stmt and returns its rows and stats.
func (f *fixture) rows(t *testing.T, stmt string) ([][]any, Stats) {
	t.Helper()
	res, err := f.e.Query(context.Background(), stmt)
	if err != nil {
		t.Fatalf("%s: %v", stmt, err)
	}
	defer res.Close()
	var out [][]any
	for res.Next() {
		out = append(out, append([]any(nil), res.Values()...))
	}
	if err := res.Err(); err != nil {
		t.Fatalf("%s: %v", stmt, err)
	}
	return out, res.Stats()
}

func TestEngineAcrossTiers(t *testing.T) {
	f := newFixture(t, Config{})
	ts := func(o int64) string {
		return "TIMESTAMP '" + time.UnixMilli(f.t0+o).UTC().Format("2006-01-02 15:04:05.000") + "'"
	}
	for _, tc := range []struct {
		name, stmt string
		want       string // the rows, formatted
		seg, hot   int64  // rows read per tier
		pruned     int64
	}{
		{"every offset once", `SELECT count(*), count(DISTINCT (partition, "offset")), min("offset"), max("offset") FROM logs`,
			"[[300 300 0 149]]", 200, 100, 0},
		{"a partition", `SELECT count(*) FROM logs WHERE partition = 1`, "[[150]]", 100, 50, 0},
		{"offsets in the first segment", `SELECT count(*) FROM logs WHERE "offset" BETWEEN 10 AND 19`, "[[20]]", 20, 0, 2},
		{"offsets in the hot part", `SELECT count(*) FROM logs WHERE "offset" >= 120`, "[[60]]", 0, 60, 4},
		{"a time window over the boundary", `SELECT count(*) FROM logs WHERE timestamp >= ` + ts(95) + ` AND timestamp < ` + ts(105),
			"[[20]]", 20, 100, 2}, // batches wholly before the window are read, not decoded
		{"json and group by", `SELECT (value->>'$.even')::BOOLEAN AS even, count(*) FROM logs GROUP BY 1 ORDER BY 1`,
			"[[false 150] [true 150]]", 200, 100, 0},
		{"key lookup", `SELECT count(*) FROM logs WHERE key = 'k3'`, "[[42]]", 200, 100, 0},
		{"nothing", `SELECT count(*) FROM logs WHERE partition = 7`, "[[0]]", 0, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rows, st := f.rows(t, tc.stmt)
			if got := fmt.Sprint(rows); got != tc.want {
				t.Fatalf("rows %s, want %s", got, tc.want)
			}
			if st.Segment.Rows != tc.seg || st.Hot.Rows != tc.hot || st.SegmentsPruned != tc.pruned {
				t.Fatalf("stats %+v, want %d segment rows, %d hot, %d pruned", st, tc.seg, tc.hot, tc.pruned)
			}
		})
	}
	_, all := f.rows(t, `SELECT count(*) FROM logs`)
	if all.Segment.Bytes == 0 || all.Segment.Bytes > f.objects {
		t.Fatalf("segment bytes %d of %d in objects", all.Segment.Bytes, f.objects)
	}
	if got := testutil.ToFloat64(f.e.m.rows.WithLabelValues("hot")); got == 0 {
		t.Fatal("no hot rows counted in the metrics")
	}
}

func TestEngineErrors(t *testing.T) {
	f := newFixture(t, Config{MaxRows: 100, MaxConcurrent: 1})
	for _, tc := range []struct {
		stmt string
		want error
	}{
		{`SELEC 1`, ErrBadStatement},
		{`SELECT nosuchcolumn FROM logs`, ErrBadStatement},
		{`SELECT * FROM nosuch`, ErrUnknownTopic},
		{`SELECT * FROM read_parquet('/etc/hostname')`, ErrBadStatement},
		{`SELECT * FROM logs`, ErrLimit}, // 300 rows of 100
	} {
		res, err := f.e.Query(context.Background(), tc.stmt)
		if err == nil {
			for res.Next() {
			}
			err = res.Err()
			res.Close()
		}
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.stmt, err, tc.want)
		}
	}
	// A leader that cannot be read fails the query, but not as the statement's fault.
	f.tail.mu.Lock()
	f.tail.fail = errors.New("leader unreachable")
	f.tail.mu.Unlock()
	res0, err := f.e.Query(context.Background(), `SELECT count(*) FROM logs WHERE 'query: ' <> ''`)
	if err == nil {
		for res0.Next() {
		}
		err = res0.Err()
		res0.Close()
	}
	if err == nil || errors.Is(err, ErrBadStatement) || Status(err) != 500 || !strings.Contains(err.Error(), "leader unreachable") {
		t.Fatalf("a failing leader: %v", err)
	}
	f.tail.mu.Lock()
	f.tail.fail = nil
	f.tail.mu.Unlock()

	// A LIMIT stops the scans early; the slot is free again once the result is closed.
	for range 3 {
		rows, _ := f.rows(t, `SELECT "offset" FROM logs LIMIT 3`)
		if len(rows) != 3 {
			t.Fatalf("LIMIT 3: %v", rows)
		}
	}
	res, err := f.e.Query(context.Background(), `SELECT 1`)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.e.Query(context.Background(), `SELECT 1`); !errors.Is(err, ErrBusy) {
		t.Fatalf("a second query with one slot: %v", err)
	}
	res.Close()
	res.Close()
}

func TestEngineValues(t *testing.T) {
	f := newFixture(t, Config{})
	res, err := f.e.Query(context.Background(), `SELECT sum("offset") AS s, avg("offset") AS a, sum(partition::DECIMAL(10,2)) AS d,
		min(timestamp) AS t, max(key) AS k, NULL AS n, [1, 2] AS l FROM logs`)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Close()
	var buf bytes.Buffer
	enc, err := NewEncoder(&buf, FormatNDJSON, res.Columns)
	if err != nil {
		t.Fatal(err)
	}
	for res.Next() {
		if err := enc.Row(res.Values()); err != nil {
			t.Fatal(err)
		}
	}
	if err := res.Err(); err != nil {
		t.Fatal(err)
	}
	enc.Close()
	want := `{"s":22350,"a":74.5,"d":150,"t":"2026-01-01T00:00:00Z","k":"k6","n":null,"l":[1,2]}` + "\n"
	if buf.String() != want {
		t.Fatalf("got  %s\nwant %s", buf.String(), want)
	}
}

// The hot index: a second query skips the spans of the hot tails the first one read when their
// timestamps or keys rule them out, answers the same, reads new records past them, and forgets
// them when the leader epoch changes.
func TestHotIndexPrunesHotTails(t *testing.T) {
	f := newFixture(t, Config{})
	ts := func(o int64) string {
		return "TIMESTAMP '" + time.UnixMilli(f.t0+o).UTC().Format("2006-01-02 15:04:05.000") + "'"
	}
	window := `SELECT count(*) FROM logs WHERE timestamp >= ` + ts(10) + ` AND timestamp < ` + ts(20) // all cold
	check := func(stmt, want string, hotRead bool, pruned int64) {
		t.Helper()
		rows, st := f.rows(t, stmt)
		if got := fmt.Sprint(rows); got != want {
			t.Fatalf("%s: rows %s, want %s", stmt, got, want)
		}
		if (st.Hot.Bytes > 0) != hotRead || st.HotSpansPruned != pruned {
			t.Fatalf("%s: hot bytes %d, spans pruned %d; want hot read %v, %d pruned", stmt, st.Hot.Bytes, st.HotSpansPruned, hotRead, pruned)
		}
	}
	// The first query reads the hot tails (the time index cannot bound the window from above).
	check(window, "[[20]]", true, 0)
	check(window, "[[20]]", false, 2)
	check(`SELECT count(*) FROM logs WHERE key = 'nobody'`, "[[0]]", false, 2)
	check(`SELECT count(*) FROM logs WHERE key = 'k3'`, "[[42]]", true, 0)
	check(`SELECT count(*) FROM logs WHERE key = 'k3' OR key = 'nobody'`, "[[42]]", true, 0)
	check(`SELECT count(*) FROM logs WHERE "offset" >= 100`, "[[100]]", true, 0)

	// New records past the indexed spans are read, and indexed in turn.
	f.tail.mu.Lock()
	f.tail.batches[0] = append(f.tail.batches[0], segment.AppendBatch(nil, segment.NewBatch{BaseOffset: 150,
		FirstTimestamp: f.t0 + 150, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1,
		Records: []segment.Record{{Timestamp: f.t0 + 150, Key: []byte("late"), Value: []byte(`{}`)}}}))
	f.tail.hw[0] = 151
	f.tail.mu.Unlock()
	check(`SELECT count(*) FROM logs WHERE key = 'late'`, "[[1]]", true, 2)
	check(`SELECT count(*) FROM logs WHERE key = 'late'`, "[[1]]", true, 2) // the new span holds it
	check(`SELECT count(*) FROM logs WHERE key = 'nobody'`, "[[0]]", false, 3)
	check(window, "[[20]]", false, 3)

	// Another leader epoch: what was read under the last one is not trusted.
	f.tail.mu.Lock()
	f.tail.epoch++
	f.tail.mu.Unlock()
	check(window, "[[20]]", true, 0)
	check(window, "[[20]]", false, 2)
}

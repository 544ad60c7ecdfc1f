package query

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/tier"
	"github.com/strata-log/strata/tier/columnar"
	"github.com/strata-log/strata/tier/segment"
)

// columnsFixture is the same batches in two topics of one partition: "seg" in a segment object,
// whose rows come from its batches, and "pq" in a Parquet object of small row groups, whose rows
// come from its columns. The batches have null keys, tombstones, headers (a null header value
// too), a transaction and its commit marker, and a log start offset inside a row group.
type columnsFixture struct {
	e         *Engine
	t0        int64
	rows      int64 // records, control records left out, from the log start on
	logStart  int64
	objectLen int64  // the Parquet object's size
	object    []byte // its bytes
}

func newColumnsFixture(t *testing.T) *columnsFixture {
	t.Helper()
	ctx := context.Background()
	store, bucket := newStoreAndBucket(t)
	f := &columnsFixture{t0: time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC).UnixMilli(), logStart: 23}
	var batches []byte
	off := int64(0)
	rng := rand.New(rand.NewPCG(1, 2)) // values that do not compress away
	for b := range 30 {
		info := segment.BatchInfo{BaseOffset: off, Magic: 2, FirstTimestamp: f.t0 + off*10, ProducerID: -1, ProducerEpoch: -1,
			BaseSequence: -1, PartitionLeaderEpoch: 1}
		var recs []kmsg.Record
		switch {
		case b == 12: // a transaction's commit marker (control record: key version 0, type 1)
			info.Attributes = segment.AttrTransactional | segment.AttrControl
			info.ProducerID, info.ProducerEpoch = 7, 0
			recs = []kmsg.Record{{Key: []byte{0, 0, 0, 1}, Value: []byte{0, 0, 0, 0, 0, 0}}}
		default:
			if b == 11 {
				info.Attributes = segment.AttrTransactional
				info.ProducerID, info.ProducerEpoch, info.BaseSequence = 7, 0, 0
			}
			for i := range 10 {
				o := off + int64(i)
				r := kmsg.Record{OffsetDelta: int32(i), TimestampDelta64: int64(i) * 10,
					Key: fmt.Appendf(nil, "k%d", o%7), Value: fmt.Appendf(nil, `{"o":%d,"pad":"%x%x%x%x%x%x"}`, o, rng.Uint64(), rng.Uint64(), rng.Uint64(),
						rng.Uint64(), rng.Uint64(), rng.Uint64())}
				switch {
				case o%11 == 0:
					r.Key = nil
				case o%13 == 0:
					r.Value = nil
				}
				if o%5 == 0 {
					r.Headers = []kmsg.Header{{Key: "trace", Value: fmt.Appendf(nil, "t%d", o)}, {Key: "empty"}}
				}
				r.TimestampDelta = int32(r.TimestampDelta64)
				recs = append(recs, r)
			}
		}
		info.LastOffsetDelta = int32(len(recs) - 1)
		info.MaxTimestamp = info.FirstTimestamp + int64(info.LastOffsetDelta)*10
		batches = segment.RebuildBatch(batches, info, recs, nil)
		for i := range recs {
			if !info.Control() && off+int64(i) >= f.logStart {
				f.rows++
			}
		}
		off += int64(len(recs))
	}
	next := off
	var seg bytes.Buffer
	sw := segment.NewWriter(&seg, 0, 0)
	sp := segment.NewSplitter(batches)
	for sp.Next() {
		if _, err := sw.Append(sp.Batch()[:sp.Info().Size()]); err != nil {
			t.Fatal(err)
		}
	}
	if err := sp.Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := sw.Seal(); err != nil {
		t.Fatal(err)
	}
	obj, st := toParquet(t, seg.Bytes(), next, columnar.Options{RowGroupBytes: 4000})
	f.objectLen, f.object = int64(len(obj)), obj
	// The same with strata.value.format=json-columns: the values (compact JSON) are rebuilt from
	// their columns, not stored in `value`.
	jcObj, _ := toParquet(t, seg.Bytes(), next, columnar.Options{RowGroupBytes: 4000, ValueFormat: columnar.ValueJSONColumns})
	tail := &leaderTail{batches: map[int32][][]byte{}, hw: map[int32]int64{0: next}}
	for _, tc := range []struct {
		name   string
		format metadata.SegmentFormat
		data   []byte
	}{{"seg", metadata.FormatSegment, seg.Bytes()}, {"pq", metadata.FormatParquet, obj}, {"pqjc", metadata.FormatParquet, jcObj}} {
		_, epoch := putObject(t, store, bucket, tc.name, tc.format, tc.data, next, st)
		tp := metadata.TopicPartition{Topic: tc.name}
		if _, err := store.SetLogStartOffset(ctx, tp, epoch, f.logStart); err != nil {
			t.Fatal(err)
		}
	}
	reader, err := tier.NewReader(tier.ReaderConfig{Bucket: bucket, Store: store})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reader.Close() })
	if f.e, err = New(Config{Topics: store, Catalogs: store, Objects: reader, Tail: tail, Registerer: prometheus.NewRegistry(),
		MaxRows: 1000}); err != nil {
		t.Fatal(err)
	}
	return f
}

// A Parquet object read as columns answers exactly as its batches do, whichever columns a query
// uses; and reads only the column chunks those need.
func TestParquetColumnsMatchBatches(t *testing.T) {
	f := newColumnsFixture(t)
	fx := &fixture{e: f.e}
	ts := func(ms int64) string {
		return "TIMESTAMP '" + time.UnixMilli(f.t0+ms).UTC().Format("2006-01-02 15:04:05.000") + "'"
	}
	for _, stmt := range []string{
		`SELECT * FROM {t} ORDER BY "offset"`,
		`SELECT partition, "offset", timestamp FROM {t} ORDER BY "offset"`,
		`SELECT count(*), count(key), count(value), sum(len(headers)) FROM {t}`,
		`SELECT count(*) FROM {t}`,
		`SELECT key, count(*), max(value->>'$.o') FROM {t} GROUP BY key ORDER BY key NULLS FIRST`,
		`SELECT "offset", headers FROM {t} WHERE len(headers) > 0 ORDER BY "offset"`,
		`SELECT "offset", value FROM {t} WHERE "offset" BETWEEN 37 AND 151 ORDER BY "offset"`,
		`SELECT "offset", key FROM {t} WHERE key = 'k3' ORDER BY "offset"`,
		`SELECT count(*), min("offset"), max("offset") FROM {t} WHERE timestamp >= ` + ts(1000) + ` AND timestamp < ` + ts(1500),
		`SELECT "offset" FROM {t} WHERE value IS NULL OR key IS NULL ORDER BY "offset"`,
		`SELECT time_bucket(INTERVAL 1 SECOND, timestamp) AS s, count(*) FROM {t} GROUP BY s ORDER BY s`,
	} {
		segRows, _ := fx.rows(t, replaceTable(stmt, "seg"))
		for _, pq := range []string{"pq", "pqjc"} {
			pqRows, st := fx.rows(t, replaceTable(stmt, pq))
			if got, want := fmt.Sprint(pqRows), fmt.Sprint(segRows); got != want {
				t.Errorf("%s (%s):\nparquet %s\nbatches %s", stmt, pq, got, want)
			}
			if len(pqRows) == 0 || st.Segment.Rows == 0 {
				t.Errorf("%s (%s): %d rows, stats %+v", stmt, pq, len(pqRows), st)
			}
		}
	}
	rows, _ := fx.rows(t, `SELECT count(*) FROM pq`)
	if fmt.Sprint(rows) != fmt.Sprintf("[[%d]]", f.rows) {
		t.Fatalf("count %v, want %d (control records left out, from the log start)", rows, f.rows)
	}
	// Bytes read follow the columns used: timestamps are a small part of the object, values most
	// of it; every column reads about the object.
	_, all := fx.rows(t, `SELECT max(key), max(value), max(len(headers)), max(timestamp) FROM pq`)
	_, times := fx.rows(t, `SELECT max(timestamp) FROM pq`)
	_, values := fx.rows(t, `SELECT max(value) FROM pq`)
	if all.Segment.Bytes > f.objectLen || all.Segment.Bytes < f.objectLen/3 {
		t.Errorf("every column: %d bytes of a %d-byte object", all.Segment.Bytes, f.objectLen)
	}
	if times.Segment.Bytes*10 > all.Segment.Bytes || values.Segment.Bytes*2 < all.Segment.Bytes || times.Segment.Bytes == 0 {
		t.Errorf("timestamps read %d bytes, values %d, every column %d", times.Segment.Bytes, values.Segment.Bytes, all.Segment.Bytes)
	}
}

func replaceTable(stmt, table string) string {
	return string(bytes.ReplaceAll([]byte(stmt), []byte("{t}"), []byte(table)))
}

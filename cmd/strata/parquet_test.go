package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strata-log/strata/tier/columnar"
	"github.com/strata-log/strata/tier/objstore"
)

// parquetObjects lists the Parquet objects of a topic (by its ID) with their ranges and record
// counts, read with the layout's reader.
type pqObject struct {
	key        string
	partition  int32
	base, next int64
	records    int64
}

func parquetObjects(t *testing.T, ctx context.Context, b objstore.Bucket, topicID string) []pqObject {
	t.Helper()
	var out []pqObject
	eachParquetObject(t, ctx, b, topicID, func(key string, _ []byte, o *columnar.Object) error {
		base, next := o.Range()
		out = append(out, pqObject{key, o.Partition(), base, next, o.Records()})
		return nil
	})
	return out
}

// startConvertingNode starts a one-node cluster whose compaction converts Parquet topics' segments
// within a second of their tiering.
func startConvertingNode(t *testing.T) *cluster {
	t.Helper()
	c := startCluster(t, 1, 0)
	n := c.add(1)
	n.extraArgs = []string{"--compaction-interval", "200ms", "--sweep-interval", "0", "--parquet-convert-after", "300ms"}
	c.start(1)
	return c
}

// eachParquetObject calls fn with every Parquet object of a topic (by its ID): its key, its bytes,
// and the object opened with the layout's reader.
func eachParquetObject(t *testing.T, ctx context.Context, b objstore.Bucket, topicID string, fn func(key string, data []byte, o *columnar.Object) error) {
	t.Helper()
	err := b.List(ctx, "", func(a objstore.Attrs) error {
		if !strings.HasSuffix(a.Key, ".parquet") || !strings.Contains(a.Key, "/"+topicID+"/") {
			return nil
		}
		rc, err := b.Get(ctx, a.Key)
		if err != nil {
			return err
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return err
		}
		o, err := columnar.Open(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return fmt.Errorf("%s: %w", a.Key, err)
		}
		return fn(a.Key, data, o)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// consumed is what a Kafka consumer sees of one record, everything a batch rebuilt from Parquet
// must keep.
type consumed struct {
	Partition      int32
	Offset         int64
	Key, Value     string
	KeyNil, ValNil bool
	Headers        string
	Timestamp      int64
	Codec          int8
	Transactional  bool
	ProducerID     int64
	ProducerEpoch  int16
	LeaderEpoch    int32
}

func consumeParquetAll(t *testing.T, ctx context.Context, c *cluster, topic string, ends map[int32]int64, opts ...kgo.Opt) []consumed {
	t.Helper()
	parts := map[int32]kgo.Offset{}
	for p := range ends {
		parts[p] = kgo.NewOffset().AtStart()
	}
	cl := c.client(t, append([]kgo.Opt{kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: parts}),
		kgo.FetchMaxBytes(64 << 10), kgo.FetchMaxPartitionBytes(16 << 10)}, opts...)...)
	defer cl.Close()
	var out []consumed
	last := map[int32]int64{}
	for p := range ends {
		last[p] = -1
	}
	done := func() bool {
		for p, e := range ends {
			if last[p] < e-1 {
				return false
			}
		}
		return true
	}
	for !done() {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		fs := cl.PollFetches(rctx)
		cancel()
		if ctx.Err() != nil {
			t.Fatalf("%s: consumed up to %v of %v", topic, last, ends)
		}
		for _, e := range fs.Errors() {
			if e.Err != context.DeadlineExceeded {
				t.Fatalf("%s: fetch: %v", topic, e.Err)
			}
		}
		fs.EachRecord(func(r *kgo.Record) {
			last[r.Partition] = max(last[r.Partition], r.Offset)
			if r.Offset >= ends[r.Partition] {
				return
			}
			var hs []string
			for _, h := range r.Headers {
				hs = append(hs, fmt.Sprintf("%s=%q/%v", h.Key, h.Value, h.Value == nil))
			}
			out = append(out, consumed{r.Partition, r.Offset, string(r.Key), string(r.Value), r.Key == nil, r.Value == nil,
				strings.Join(hs, ","), r.Timestamp.UnixMilli(), int8(r.Attrs.CompressionType()), r.Attrs.IsTransactional(),
				r.ProducerID, r.ProducerEpoch, r.LeaderEpoch})
		})
		// A consumer at the end of a partition whose last offsets are control records sees nothing
		// more: count those as read once the fetch position passes them.
		for _, p := range fs {
			for _, tp := range p.Topics {
				for _, pp := range tp.Partitions {
					if pp.HighWatermark > 0 && pp.HighWatermark >= ends[pp.Partition] && len(pp.Records) == 0 && pp.Err == nil {
						last[pp.Partition] = max(last[pp.Partition], ends[pp.Partition]-1)
					}
				}
			}
		}
	}
	slices.SortFunc(out, func(a, b consumed) int {
		return cmp.Or(cmp.Compare(a.Partition, b.Partition), cmp.Compare(a.Offset, b.Offset))
	})
	return out
}

// TestParquetTopicServesKafkaFetch writes the same records (idempotent zstd, plain uncompressed,
// transactions committed and aborted, headers, null keys and values, JSON values) to a segment
// topic and a strata.cold.format=parquet one, lets the parquet topic's tiered data convert, drops
// the hot copies, and checks that a franz-go consumer over TCP reads the same records from both —
// offsets, keys, values, headers, timestamps, codecs, producer fields — read committed and not;
// that ListOffsets by timestamp and DeleteRecords answer the same; and that the Parquet objects
// cover each offset once.
func TestParquetTopicServesKafkaFetch(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	c := startConvertingNode(t)
	n := c.node(1)
	stamp := time.Now().UnixNano()
	segT, pqT := fmt.Sprintf("seg-%d", stamp), fmt.Sprintf("pq-%d", stamp)
	base := map[string]*string{"segment.ms": strp("300"), "local.retention.ms": strp("300")}
	c.createTopic(t, ctx, segT, 2, base)
	pqConf := map[string]*string{"strata.cold.format": strp("parquet"), "strata.value.format": strp("json")}
	for k, v := range base {
		pqConf[k] = v
	}
	c.createTopic(t, ctx, pqT, 2, pqConf)

	zstd := c.client(t, kgo.ProducerBatchCompression(kgo.ZstdCompression()), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	plain := c.client(t, kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.DisableIdempotentWrite(),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	txn := c.client(t, kgo.TransactionalID(fmt.Sprintf("pq-txn-%d", stamp)), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchCompression(kgo.Lz4Compression()))
	t0 := time.Now().Add(-time.Hour).UnixMilli()
	ts := t0
	both := func(cl *kgo.Client, recs ...*kgo.Record) {
		t.Helper()
		var all []*kgo.Record
		for _, topic := range []string{segT, pqT} {
			for _, r := range recs {
				cp := *r
				cp.Topic = topic
				all = append(all, &cp)
			}
		}
		if err := cl.ProduceSync(ctx, all...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	levels := []string{"info", "warn", "error"}
	for round := range 30 {
		var recs []*kgo.Record
		for i := range 20 {
			ts++
			r := &kgo.Record{Partition: int32(i % 2), Timestamp: time.UnixMilli(ts),
				Key:   fmt.Appendf(nil, "user-%d", i%7),
				Value: fmt.Appendf(nil, `{"time":%d,"level":%q,"service":"api","latency_ms":%d,"msg":"request %d"}`, ts, levels[i%3], i*3, round*20+i)}
			switch i % 5 {
			case 1:
				r.Key = nil
			case 2:
				r.Headers = []kgo.RecordHeader{{Key: "trace", Value: fmt.Appendf(nil, "t-%d", i)}, {Key: "null"}}
			case 3:
				r.Value = nil
			case 4:
				r.Value = []byte("not json")
			}
			recs = append(recs, r)
		}
		switch round % 3 {
		case 0:
			both(zstd, recs...)
		case 1:
			both(plain, recs...)
		case 2:
			if err := txn.BeginTransaction(); err != nil {
				t.Fatal(err)
			}
			both(txn, recs[:10]...)
			commit := kgo.TryCommit
			if round%2 == 0 {
				commit = kgo.TryAbort
			}
			if err := txn.EndTransaction(ctx, commit); err != nil {
				t.Fatal(err)
			}
		}
	}
	adm := kadm.NewClient(c.client(t))
	endsOf := func(topic string) map[int32]int64 {
		t.Helper()
		lo, err := adm.ListEndOffsets(ctx, topic)
		if err != nil || lo.Error() != nil {
			t.Fatalf("end offsets of %s: %v %v", topic, err, lo.Error())
		}
		out := map[int32]int64{}
		lo.Each(func(o kadm.ListedOffset) { out[o.Partition] = o.Offset })
		return out
	}
	segEnds, pqEnds := endsOf(segT), endsOf(pqT)
	if !reflect.DeepEqual(segEnds, pqEnds) {
		t.Fatalf("end offsets differ: %v and %v", segEnds, pqEnds)
	}
	md, err := adm.Metadata(ctx, pqT)
	if err != nil {
		t.Fatal(err)
	}
	id := md.Topics[pqT].ID
	pqID := hex.EncodeToString(id[:])
	bucket := c.minio.Open(t, c.object)

	// Sentinels roll the active segments until the produced offsets are all in Parquet objects.
	covered := func() bool {
		objs := parquetObjects(t, ctx, bucket, pqID)
		for p, end := range pqEnds {
			next := int64(0)
			for _, o := range objs {
				if o.partition == p && o.base <= next && o.next > next {
					next = o.next
				}
			}
			if next < end {
				return false
			}
		}
		return true
	}
	for i := 0; !covered(); i++ {
		if ctx.Err() != nil {
			t.Fatalf("%s never converted: %+v\n%s", pqT, parquetObjects(t, ctx, bucket, pqID), c.logs())
		}
		both(plain, &kgo.Record{Partition: 0, Key: []byte("sentinel"), Timestamp: time.Now()},
			&kgo.Record{Partition: 1, Key: []byte("sentinel"), Timestamp: time.Now()})
		time.Sleep(300 * time.Millisecond)
	}
	// The sentinels are compared too: up to the ends now.
	segEnds, pqEnds = endsOf(segT), endsOf(pqT)
	// Each offset is in one Parquet object: a glob over them sees every record once.
	objs := parquetObjects(t, ctx, bucket, pqID)
	seen := map[string]bool{}
	for _, o := range objs {
		for off := o.base; off < o.next; off++ {
			k := fmt.Sprintf("%d/%d", o.partition, off)
			if seen[k] {
				t.Fatalf("offset %s in two Parquet objects: %+v", k, objs)
			}
			seen[k] = true
		}
	}
	// The hot copies go (local.retention.ms=300): reads then come from the objects. A read of the
	// whole topic that rebuilt fewer batch bytes from Parquet than its uncompressed third holds is
	// tried again.
	plainBytes := 0
	for _, r := range consumeParquetAll(t, ctx, c, segT, segEnds) {
		if r.Codec == 0 {
			plainBytes += len(r.Key) + len(r.Value)
		}
	}
	for {
		before := scrape(t, n.http)["strata_tier_parquet_read_bytes_total"]
		consumeParquetAll(t, ctx, c, pqT, pqEnds)
		if got := scrape(t, n.http)["strata_tier_parquet_read_bytes_total"] - before; got >= float64(plainBytes) {
			break
		} else if ctx.Err() != nil {
			t.Fatalf("reads of %s rebuilt %v bytes from Parquet, want at least %d", pqT, got, plainBytes)
		}
		time.Sleep(500 * time.Millisecond)
	}

	for _, iso := range []kgo.IsolationLevel{kgo.ReadUncommitted(), kgo.ReadCommitted()} {
		got := consumeParquetAll(t, ctx, c, pqT, pqEnds, kgo.FetchIsolationLevel(iso))
		want := consumeParquetAll(t, ctx, c, segT, segEnds, kgo.FetchIsolationLevel(iso))
		if len(want) < 300 {
			t.Fatalf("only %d records read from %s", len(want), segT)
		}
		if !reflect.DeepEqual(got, want) {
			for i := range min(len(got), len(want)) {
				if got[i] != want[i] {
					t.Fatalf("record %d differs:\n parquet %+v\n segment %+v\n%s", i, got[i], want[i], c.logs())
				}
			}
			t.Fatalf("%d records from the parquet topic, %d from the segment topic", len(got), len(want))
		}
	}

	t.Run("DuckDB and pyarrow", func(t *testing.T) {
		checkWithPython(t, ctx, bucket, pqID, consumeParquetAll(t, ctx, c, pqT, pqEnds))
	})

	// SQL over the Parquet topic answers as over the segment topic (same records, same offsets).
	for _, stmt := range []string{
		`SELECT count(*) AS n, count(DISTINCT key) AS k, count(DISTINCT (partition, "offset")) AS d, max("offset") AS o FROM TOPIC`,
		`SELECT value->>'$.level' AS level, count(*) AS n, sum(CAST(value->>'$.latency_ms' AS INTEGER)) AS l FROM TOPIC WHERE json_valid(value) GROUP BY ALL ORDER BY level`,
		`SELECT partition, "offset", key, value, timestamp FROM TOPIC WHERE key = 'user-3' ORDER BY partition, "offset"`,
		`SELECT count(*) AS n FROM TOPIC WHERE value ILIKE '%request 1%'`,
		// A time window: Parquet row groups outside it are skipped.
		fmt.Sprintf(`SELECT count(*) AS n, min("offset") AS lo, max("offset") AS hi FROM TOPIC WHERE timestamp >= TIMESTAMP '%s' AND timestamp < TIMESTAMP '%s'`,
			time.UnixMilli(t0+137).UTC().Format("2006-01-02 15:04:05.000"), time.UnixMilli(t0+400).UTC().Format("2006-01-02 15:04:05.000")),
	} {
		a := sqlRows(t, n.p.http, strings.ReplaceAll(stmt, "TOPIC", `"`+segT+`"`))
		b := sqlRows(t, n.p.http, strings.ReplaceAll(stmt, "TOPIC", `"`+pqT+`"`))
		if len(a.rows) == 0 || !reflect.DeepEqual(a.rows, b.rows) {
			t.Errorf("%s: segment topic %v, parquet topic %v", stmt, a.rows, b.rows)
		}
	}

	for _, at := range []int64{t0, t0 + 1, t0 + 137, t0 + 400, ts + 1} {
		a, err1 := adm.ListOffsetsAfterMilli(ctx, at, segT)
		b, err2 := adm.ListOffsetsAfterMilli(ctx, at, pqT)
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		for p := range int32(2) {
			x, _ := a.Lookup(segT, p)
			y, _ := b.Lookup(pqT, p)
			// A transaction marker (timestamped by the broker as it wrote it to each topic, not an
			// hour ago) may be the answer: its timestamps may differ by a millisecond or so.
			marker := x.Timestamp > t0+time.Hour.Milliseconds()/2 && y.Timestamp > t0+time.Hour.Milliseconds()/2
			if x.Offset != y.Offset || (x.Timestamp != y.Timestamp && !marker) || x.Err != nil || y.Err != nil {
				t.Fatalf("ListOffsets after %d, partition %d: segment %+v, parquet %+v", at, p, x, y)
			}
		}
	}

	// Switched back to segment: the converted ranges stay Parquet and are served as before, new
	// data stays in segments; and to parquet again.
	for _, format := range []string{"segment", "parquet"} {
		if _, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "strata.cold.format", Value: strp(format)}}, pqT); err != nil {
			t.Fatal(err)
		}
		for i := range 5 {
			ts++
			both(plain, &kgo.Record{Partition: int32(i % 2), Key: []byte(format), Value: fmt.Appendf(nil, `{"n":%d}`, i), Timestamp: time.UnixMilli(ts)})
		}
		segEnds, pqEnds = endsOf(segT), endsOf(pqT)
		if got, want := consumeParquetAll(t, ctx, c, pqT, pqEnds), consumeParquetAll(t, ctx, c, segT, segEnds); !reflect.DeepEqual(got, want) {
			t.Fatalf("after switching to %s: %d records from the parquet topic, %d from the segment topic, or some differ", format, len(got), len(want))
		}
	}

	del := int64(37)
	for _, topic := range []string{segT, pqT} {
		var os kadm.Offsets
		os.Add(kadm.Offset{Topic: topic, Partition: 0, At: del})
		r, err := adm.DeleteRecords(ctx, os)
		if err != nil || r.Error() != nil {
			t.Fatalf("DeleteRecords %s: %v %v", topic, err, r.Error())
		}
	}
	for _, topic := range []string{segT, pqT} {
		cl := c.client(t, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
		fs := cl.PollFetches(ctx)
		first := int64(-1)
		fs.EachRecord(func(r *kgo.Record) {
			if first < 0 {
				first = r.Offset
			}
		})
		cl.Close()
		if first < del {
			t.Fatalf("%s: first record after DeleteRecords(%d) is at %d", topic, del, first)
		}
		t.Logf("%s: first offset after DeleteRecords(%d): %d", topic, del, first)
	}
}

// checkWithPython copies the topic's Parquet objects into a directory laid out as the bucket is, has
// testdata/parquet/check.py read them with DuckDB (read_parquet over a glob) and pyarrow, and compares
// the records with what a Kafka consumer read (kafka: read uncommitted), JSON columns included.
func checkWithPython(t *testing.T, ctx context.Context, b objstore.Bucket, topicID string, kafka []consumed) {
	root := repoRootDir(t)
	py := filepath.Join(root, ".tools/compat-venv/bin/python")
	if out, err := exec.Command(py, "-c", "import duckdb, pyarrow").CombinedOutput(); err != nil {
		if os.Getenv("STRATA_REQUIRE_TOOLS") == "1" {
			t.Fatalf("duckdb and pyarrow not importable by %s (STRATA_REQUIRE_TOOLS=1; run `make clients`): %v %s", py, err, out)
		}
		t.Skipf("duckdb and pyarrow not importable by %s; run `make clients`", py)
	}
	dir := t.TempDir()
	ends := copyParquetObjects(t, ctx, b, topicID, dir)
	fields := []string{"time", "level", "service", "latency_ms", "msg"}
	cmd := exec.CommandContext(ctx, py, append([]string{filepath.Join(root, "testdata/parquet/check.py"), dir}, fields...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("check.py: %v\n%s", err, stderr.String())
	}
	type row struct {
		Partition int32          `json:"partition"`
		Offset    int64          `json:"offset"`
		Key       *string        `json:"key"`
		Value     *string        `json:"value"`
		Timestamp int64          `json:"timestamp"`
		JSON      map[string]any `json:"json"`
	}
	var got []row
	dec := json.NewDecoder(bytes.NewReader(out))
	for dec.More() {
		var r row
		if err := dec.Decode(&r); err != nil {
			t.Fatalf("check.py output: %v", err)
		}
		got = append(got, r)
	}
	hexOrNil := func(s string, null bool) *string {
		if null {
			return nil
		}
		h := hex.EncodeToString([]byte(s))
		return &h
	}
	var want []row
	for _, k := range kafka {
		if k.Offset >= ends[k.Partition] {
			continue
		}
		r := row{Partition: k.Partition, Offset: k.Offset, Key: hexOrNil(k.Key, k.KeyNil), Value: hexOrNil(k.Value, k.ValNil),
			Timestamp: k.Timestamp, JSON: map[string]any{}}
		var obj map[string]any
		_ = json.Unmarshal([]byte(k.Value), &obj)
		for _, f := range fields {
			r.JSON[f] = obj[f] // nil when the value is not a JSON object or lacks the field
		}
		want = append(want, r)
	}
	if len(got) != len(want) || len(got) < 300 {
		t.Fatalf("DuckDB read %d records, a Kafka consumer %d (below the converted ends %v)", len(got), len(want), ends)
	}
	for i := range want {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Fatalf("record %d:\n DuckDB %+v\n Kafka  %+v", i, got[i], want[i])
		}
	}
	t.Logf("DuckDB and pyarrow read %d records of %d partitions, equal to the Kafka view", len(got), len(ends))
}

// copyParquetObjects copies the Parquet objects of a topic (by its ID) into dir, laid out as the
// bucket is, and returns each partition's end (the largest next offset of its objects).
func copyParquetObjects(t *testing.T, ctx context.Context, b objstore.Bucket, topicID, dir string) map[int32]int64 {
	t.Helper()
	ends := map[int32]int64{}
	eachParquetObject(t, ctx, b, topicID, func(key string, data []byte, o *columnar.Object) error {
		_, next := o.Range()
		ends[o.Partition()] = max(ends[o.Partition()], next)
		path := filepath.Join(dir, filepath.FromSlash(key))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		return os.WriteFile(path, data, 0o644)
	})
	return ends
}

// repoRootDir is the module root: the nearest directory above with a go.mod.
func repoRootDir(t *testing.T) string {
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}

package load

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Target is a running broker and the topic configs every scenario topic gets on it.
type Target struct {
	Broker       Broker
	TopicConfigs map[string]string
	Log          *slog.Logger
	// PIDs names the server processes whose CPU time a scenario may measure (the broker by its
	// system name, Strata's object store as "minio"); the client is this process.
	PIDs map[string]int
}

// Params size the scenarios.
type Params struct {
	RecordSize        int           // value bytes per record (1024)
	ProduceBytes      int64         // value bytes each produce run sends
	ProduceTimeout    time.Duration // a produce run stops sending after this long
	LatencyRate       int           // records per second in the latency and object scenarios
	LatencyDuration   time.Duration // how long they send
	LatencyPartitions int32
	// ObjectManyPartitions runs the object scenario once more on a topic of this many partitions
	// (its key is object/<n>; 0: not run), beside the LatencyPartitions one (key object).
	ObjectManyPartitions int32
	// ObjectManyRate is the records per second of that run (0: LatencyRate): a node leading many
	// partitions is a busy one, so it runs at 20 MB/s of 1 KiB records, where the PUTs per GiB and
	// the ack tail of one object per flush show.
	ObjectManyRate int
	ConsumeTimeout time.Duration
	ReplayBytes    int64         // value bytes written for the cold replay
	DetectTimeout  time.Duration // how long to wait for tiering to show in the counters
	WarmupBytes    int64         // written and read back, unmeasured, after a broker starts (JIT, caches)
	HotDropTimeout time.Duration // how long replay waits for local retention to drop uploaded segments
	MinIOParallel  int           // concurrent GETs of the raw MinIO baseline
	// IdlePartitions is the partitions scenario's topic size; IdleLeadTimeout bounds the wait for
	// them all to be led, IdleSettle the pause before measuring, IdleWindow the measurement.
	IdlePartitions  int32
	IdleLeadTimeout time.Duration
	IdleSettle      time.Duration
	IdleWindow      time.Duration
	// QuietTimeout bounds the wait, before each Strata scenario, for the uploads and compaction
	// left by the earlier ones to finish (see waitBackgroundQuiet); past it the scenario runs anyway
	// and its note says so.
	QuietTimeout time.Duration
	// ColumnarBytes is the value bytes of JSON log records written to each of the columnar
	// scenario's three topics; QueryBytes those of the query scenario's topic (over 24 hours of
	// timestamps); QueryRuns how often each query runs (the median is reported).
	ColumnarBytes int64
	QueryBytes    int64
	QueryRuns     int
}

// QuickParams are bench-quick's sizes: three alternating rounds of Strata and Kafka in about a
// quarter of an hour on a 2-core machine. The produce and replay byte budgets stay as they were
// (shorter produce runs swing more). The latency and object windows are 30 s: at 1,000 records/s
// and a 100 ms flush interval, a 10 s window's p99 (its 100 slowest records) was the records of its
// one slowest flush, and swung 100-195 ms from round to round with the machine; over 30 s it is
// about the three slowest. The idle partitions window is 10 s.
func QuickParams() Params {
	return Params{RecordSize: 1024, ProduceBytes: 512 << 20, ProduceTimeout: 45 * time.Second,
		LatencyRate: 1000, LatencyDuration: 30 * time.Second, LatencyPartitions: 12, ObjectManyPartitions: 256, ObjectManyRate: 20000, ConsumeTimeout: 60 * time.Second,
		ReplayBytes: 256 << 20, DetectTimeout: 20 * time.Second, MinIOParallel: 4, WarmupBytes: 64 << 20,
		HotDropTimeout: 45 * time.Second, IdlePartitions: 2000, IdleLeadTimeout: 2 * time.Minute, IdleSettle: 5 * time.Second, QuietTimeout: time.Minute,
		IdleWindow: 10 * time.Second, ColumnarBytes: 64 << 20, QueryBytes: 128 << 20, QueryRuns: 3}
}

// FullParams are the full run's sizes.
func FullParams() Params {
	return Params{RecordSize: 1024, ProduceBytes: 4 << 30, ProduceTimeout: 5 * time.Minute,
		LatencyRate: 2000, LatencyDuration: 60 * time.Second, LatencyPartitions: 12, ObjectManyPartitions: 256, ObjectManyRate: 20000, ConsumeTimeout: 5 * time.Minute,
		ReplayBytes: 512 << 20, DetectTimeout: 60 * time.Second, MinIOParallel: 4, WarmupBytes: 512 << 20,
		HotDropTimeout: 90 * time.Second, IdlePartitions: 10000, IdleLeadTimeout: 5 * time.Minute, IdleSettle: 10 * time.Second, QuietTimeout: 2 * time.Minute,
		IdleWindow: 30 * time.Second, ColumnarBytes: 256 << 20, QueryBytes: 1 << 30, QueryRuns: 3}
}

// clientOpts are the client settings shared by both systems: acks=all and idempotence (franz-go's
// defaults, stated here so a change of default cannot skew a comparison), no compression.
func clientOpts(t Target, extra ...kgo.Opt) []kgo.Opt {
	return append([]kgo.Opt{
		kgo.SeedBrokers(t.Broker.Addrs()...),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.MetadataMinAge(250 * time.Millisecond),
	}, extra...)
}

// CreateTopic creates a topic with t's configs plus extra and waits until every partition has a
// leader.
func CreateTopic(ctx context.Context, t Target, name string, partitions int32, extra map[string]string) error {
	cl, err := kgo.NewClient(clientOpts(t)...)
	if err != nil {
		return err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	cfg := map[string]*string{}
	for k, v := range t.TopicConfigs {
		cfg[k] = &v
	}
	for k, v := range extra {
		cfg[k] = &v
	}
	resp, err := adm.CreateTopic(ctx, partitions, 1, cfg, name)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		return fmt.Errorf("create topic %s: %w", name, err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		md, err := adm.Metadata(ctx, name)
		if err == nil {
			if td, ok := md.Topics[name]; ok && td.Err == nil && len(td.Partitions) == int(partitions) {
				ready := true
				for _, p := range td.Partitions {
					ready = ready && p.Err == nil && p.Leader >= 0
				}
				if ready {
					return nil
				}
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("topic %s has no leaders after 30s (last error %v)", name, err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func randomPayload(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b) // incompressible, like encrypted or already-compressed payloads
	return b
}

// produceBytes sends total value bytes to topic as fast as the client buffers allow, recording
// each record's ack latency (from the Produce call, so at saturation it includes client queueing).
func produceBytes(ctx context.Context, t Target, topic string, total int64, size int, timeout time.Duration) (Result, error) {
	return produceWatched(ctx, t, topic, total, size, timeout, nil)
}

// produceWatched is produceBytes calling onAck (when set) with the bytes acknowledged so far after
// each acknowledgement, from the client's goroutines.
func produceWatched(ctx context.Context, t Target, topic string, total int64, size int, timeout time.Duration, onAck func(acked int64)) (Result, error) {
	cl, err := kgo.NewClient(clientOpts(t, kgo.DefaultProduceTopic(topic), kgo.MaxBufferedBytes(64<<20))...)
	if err != nil {
		return Result{}, err
	}
	defer cl.Close()
	payload := randomPayload(size)
	var rec Recorder
	var acked, failed atomic.Int64
	var errMu sync.Mutex
	var firstErr error
	sctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	n := total / int64(size)
	start := time.Now()
	for i := int64(0); i < n && sctx.Err() == nil; i++ {
		sent := time.Now()
		cl.Produce(sctx, &kgo.Record{Value: payload}, func(_ *kgo.Record, err error) {
			if err != nil {
				failed.Add(1)
				errMu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				errMu.Unlock()
				return
			}
			rec.Observe(time.Since(sent))
			if n := acked.Add(1); onAck != nil {
				onAck(n * int64(size))
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		return Result{}, err
	}
	elapsed := time.Since(start)
	var r Result
	r.SetThroughput(acked.Load(), acked.Load()*int64(size), elapsed)
	r.SetLatency(rec.Snapshot())
	r.Errors = failed.Load()
	errMu.Lock()
	defer errMu.Unlock()
	switch {
	case firstErr == nil:
	case errors.Is(firstErr, context.DeadlineExceeded):
		r.Note = fmt.Sprintf("stopped at the %v time limit", timeout)
	default:
		r.Note = "first error: " + firstErr.Error()
	}
	return r, nil
}

// Produce is the max-throughput scenario; it returns the topic it filled for Consume.
func Produce(ctx context.Context, t Target, p Params, partitions int32) (Result, string, error) {
	topic := fmt.Sprintf("bench-produce-%d-%d", partitions, time.Now().UnixNano())
	if err := CreateTopic(ctx, t, topic, partitions, nil); err != nil {
		return Result{}, "", err
	}
	cpu := startPassCPU(t, "producer")
	r, err := produceBytes(ctx, t, topic, p.ProduceBytes, p.RecordSize, p.ProduceTimeout)
	r.Name, r.System, r.Partitions = ScenarioProduce, t.Broker.System(), int(partitions)
	if err == nil {
		// Where CPU went: the broker's (Strata also uploads rolled segments meanwhile, and
		// its object store takes them), the producer's, and the machine's busy share.
		r.Figures = map[string]float64{}
		cpu.stop(r.Figures, "produce", r.Bytes)
		if len(r.Figures) == 0 {
			r.Figures = nil
		}
	}
	return r, topic, err
}

// ObjectBurst produces ProduceBytes as fast as one producer can to a strata.durability=object topic
// of the given partitions; the runner adds its object-store counters (flush PUTs per GiB over the
// whole run). Its figures are those of the steady middle of the run, from the acknowledgement of a
// quarter of the bytes to that of three quarters, where the producer's start and end (flushes of
// what trickles in while it ramps up, and the last partial flush) are left out:
//
//	steady_mb_per_s            the acknowledged MB per second in that window
//	steady_flush_puts_per_gib  the flush PUTs in it per GiB acknowledged in it
func ObjectBurst(ctx context.Context, t Target, p Params, partitions int32) (Result, error) {
	topic := fmt.Sprintf("bench-object-burst-%d", time.Now().UnixNano())
	if err := CreateTopic(ctx, t, topic, partitions, map[string]string{"strata.durability": "object"}); err != nil {
		return Result{}, err
	}
	type mark struct {
		at     time.Time
		acked  int64
		puts   float64
		scrape error
	}
	marks := make(chan mark, 2)
	var crossed atomic.Int32
	onAck := func(acked int64) {
		for i, frac := range []int64{1, 3} { // a quarter, three quarters
			if acked < p.ProduceBytes*frac/4 || !crossed.CompareAndSwap(int32(i), int32(i+1)) {
				continue
			}
			go func() { // the scrape must not hold up the client's callbacks
				m := mark{at: time.Now(), acked: acked}
				c, err := objCounters(ctx, t)
				m.puts, m.scrape = c.FlushPuts, err
				marks <- m
			}()
		}
	}
	r, err := produceWatched(ctx, t, topic, p.ProduceBytes, p.RecordSize, p.ProduceTimeout, onAck)
	if err != nil || crossed.Load() < 2 {
		return r, err
	}
	a, b := <-marks, <-marks
	if b.at.Before(a.at) {
		a, b = b, a
	}
	if a.scrape != nil || b.scrape != nil {
		return r, errors.Join(a.scrape, b.scrape)
	}
	if bytes, secs := float64(b.acked-a.acked), b.at.Sub(a.at).Seconds(); bytes > 0 && secs > 0 {
		r.Figures = map[string]float64{
			"steady_mb_per_s":           bytes / 1e6 / secs,
			"steady_flush_puts_per_gib": (b.puts - a.puts) / (bytes / (1 << 30)),
		}
	}
	return r, nil
}

// Warmup writes WarmupBytes to a 12-partition topic and reads them back, unmeasured, so that a
// freshly started broker (a JVM in particular) is not timed while it warms up.
func Warmup(ctx context.Context, t Target, p Params) error {
	if p.WarmupBytes <= 0 {
		return nil
	}
	topic := fmt.Sprintf("bench-warmup-%d", time.Now().UnixNano())
	if err := CreateTopic(ctx, t, topic, 12, nil); err != nil {
		return err
	}
	w, err := produceBytes(ctx, t, topic, p.WarmupBytes, p.RecordSize, p.ProduceTimeout)
	if err != nil {
		return err
	}
	if w.Errors > 0 {
		return fmt.Errorf("warm-up produce: %d errors, %s", w.Errors, w.Note)
	}
	_, err = Consume(ctx, t, p, topic)
	return err
}

// Consume reads topic from its start to the end offsets it has when Consume begins, with a fresh
// client (no consumer group), and reports the rate.
func Consume(ctx context.Context, t Target, p Params, topic string) (Result, error) {
	cl, err := kgo.NewClient(clientOpts(t, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
	if err != nil {
		return Result{}, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return Result{}, fmt.Errorf("end offsets of %s: %w", topic, err)
	}
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err == nil {
		err = starts.Error()
	}
	if err != nil {
		return Result{}, fmt.Errorf("start offsets of %s: %w", topic, err)
	}
	var want int64
	ends.Each(func(o kadm.ListedOffset) {
		s, _ := starts.Lookup(o.Topic, o.Partition)
		want += o.Offset - s.Offset
	})
	cctx, cancel := context.WithTimeout(ctx, p.ConsumeTimeout)
	defer cancel()
	var got, bytes, errs int64
	var note string
	start := time.Now()
	for got < want && cctx.Err() == nil {
		fs := cl.PollFetches(cctx)
		fs.EachError(func(_ string, _ int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
				errs++
				if note == "" {
					note = "first error: " + err.Error()
				}
			}
		})
		fs.EachRecord(func(r *kgo.Record) {
			got++
			bytes += int64(len(r.Value))
		})
	}
	elapsed := time.Since(start)
	r := Result{Name: ScenarioConsume, System: t.Broker.System(), Errors: errs, Note: note}
	r.SetThroughput(got, bytes, elapsed)
	if got < want {
		r.Note = fmt.Sprintf("read %d of %d records before the %v limit; %s", got, want, p.ConsumeTimeout, note)
	}
	return r, nil
}

// Latency sends LatencyRate records a second for LatencyDuration, each carrying its scheduled send
// time, while a consumer in the same process reads them. Both latencies are measured from the
// scheduled time, so a stalled broker cannot hide its stall by slowing the sender (no coordinated
// omission). name is the scenario name (latency or object); extra are topic configs.
func Latency(ctx context.Context, t Target, p Params, name string, extra map[string]string) (Result, error) {
	topic := fmt.Sprintf("bench-%s-%d", name, time.Now().UnixNano())
	if err := CreateTopic(ctx, t, topic, p.LatencyPartitions, extra); err != nil {
		return Result{}, err
	}
	prod, err := kgo.NewClient(clientOpts(t, kgo.DefaultProduceTopic(topic), kgo.ProducerLinger(0))...)
	if err != nil {
		return Result{}, err
	}
	defer prod.Close()
	cons, err := kgo.NewClient(clientOpts(t, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
	if err != nil {
		return Result{}, err
	}
	defer cons.Close()

	var ack, e2e Recorder
	var seen, acked, failed atomic.Int64
	cctx, stopConsumer := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // owned by this function: stopped by stopConsumer, waited on below
		defer wg.Done()
		for cctx.Err() == nil {
			cons.PollFetches(cctx).EachRecord(func(r *kgo.Record) {
				now := time.Now()
				if len(r.Value) < 9 {
					return
				}
				seen.Add(1)
				if r.Value[8] == 1 { // warm-up record
					return
				}
				e2e.Observe(now.Sub(time.Unix(0, int64(binary.BigEndian.Uint64(r.Value)))))
			})
		}
	}()
	defer func() { stopConsumer(); wg.Wait() }()

	payload := randomPayload(max(p.RecordSize, 9))
	value := func(at time.Time, warm bool) []byte {
		v := append([]byte(nil), payload...)
		binary.BigEndian.PutUint64(v, uint64(at.UnixNano()))
		v[8] = 0
		if warm {
			v[8] = 1
		}
		return v
	}
	// Warm up: a record per partition count (keyed, so spread over partitions), sent together, so
	// connections and metadata are in place before the clock starts.
	var warmErr error
	var warmMu sync.Mutex
	for i := 0; i < int(p.LatencyPartitions); i++ {
		key := []byte(fmt.Sprintf("warm-%d", i))
		prod.Produce(ctx, &kgo.Record{Key: key, Value: value(time.Now(), true)}, func(_ *kgo.Record, err error) {
			warmMu.Lock()
			defer warmMu.Unlock()
			if err != nil && warmErr == nil {
				warmErr = err
			}
		})
	}
	if err := prod.Flush(ctx); err != nil {
		return Result{}, fmt.Errorf("warm-up produce: %w", err)
	}
	warmMu.Lock()
	err = warmErr
	warmMu.Unlock()
	if err != nil {
		return Result{}, fmt.Errorf("warm-up produce: %w", err)
	}
	if err := waitCount(ctx, &seen, int64(p.LatencyPartitions), 30*time.Second); err != nil {
		return Result{}, fmt.Errorf("warm-up records not consumed: %w", err)
	}
	warm := seen.Load()

	interval := time.Second / time.Duration(p.LatencyRate)
	total := int64(p.LatencyDuration / interval)
	start := time.Now()
	for i := int64(0); i < total && ctx.Err() == nil; i++ {
		due := start.Add(time.Duration(i) * interval)
		if d := time.Until(due); d > 0 {
			time.Sleep(d)
		}
		prod.Produce(ctx, &kgo.Record{Value: value(due, false)}, func(_ *kgo.Record, err error) {
			if err != nil {
				failed.Add(1)
				return
			}
			ack.Observe(time.Since(due))
			acked.Add(1)
		})
	}
	if err := prod.Flush(ctx); err != nil {
		return Result{}, err
	}
	elapsed := time.Since(start)
	r := Result{Name: name, System: t.Broker.System(), TargetRate: float64(p.LatencyRate), Errors: failed.Load()}
	if err := waitCount(ctx, &seen, warm+acked.Load(), 30*time.Second); err != nil {
		r.Note = fmt.Sprintf("consumer saw %d of %d acked records", seen.Load()-warm, acked.Load())
	}
	stopConsumer()
	wg.Wait()
	r.SetThroughput(acked.Load(), acked.Load()*int64(len(payload)), elapsed)
	as, es := ack.Snapshot(), e2e.Snapshot()
	r.SetLatency(as)
	r.SetE2E(es)
	r.CDF, r.E2ECDF = CDF(as, 200), CDF(es, 200)
	return r, nil
}

func waitCount(ctx context.Context, c *atomic.Int64, want int64, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for c.Load() < want {
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d after %v", c.Load(), want, limit)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	return nil
}

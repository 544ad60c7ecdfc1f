package load

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strata-log/strata/tier/objstore"
)

// Reasons a tiering scenario is skipped.
const (
	needsTiering = "needs tiering"
	notStrata    = "the broker exports no Strata object-store counters"
)

func objCounters(ctx context.Context, t Target) (ObjStoreCounters, error) {
	s, err := Scrape(ctx, t.Broker.MetricsURL())
	if err != nil {
		return ObjStoreCounters{}, err
	}
	return ObjStoreFrom(s), nil
}

// DetectObjectDurability says why the object scenario cannot run on t ("" when it can): the broker
// must accept strata.durability=object and an acked produce to such a topic must have caused an
// object PUT by the time its ack arrives.
func DetectObjectDurability(ctx context.Context, t Target) (string, error) {
	if t.Broker.MetricsURL() == "" {
		return notStrata, nil
	}
	topic := fmt.Sprintf("bench-probe-object-%d", time.Now().UnixNano())
	if err := CreateTopic(ctx, t, topic, 1, map[string]string{"strata.durability": "object"}); err != nil {
		return fmt.Sprintf("%s: strata.durability=object refused: %v", needsTiering, err), nil
	}
	before, err := objCounters(ctx, t)
	if err != nil {
		return "", err
	}
	cl, err := kgo.NewClient(clientOpts(t, kgo.DefaultProduceTopic(topic))...)
	if err != nil {
		return "", err
	}
	defer cl.Close()
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("probe")}).FirstErr(); err != nil {
		return "", fmt.Errorf("probe produce: %w", err)
	}
	after, err := objCounters(ctx, t)
	if err != nil {
		return "", err
	}
	if after.Puts <= before.Puts {
		return needsTiering + ": an acked produce to a strata.durability=object topic caused no object PUT (acks follow the local fsync)", nil
	}
	return "", nil
}

// Replay writes ReplayBytes to a 12-partition topic and waits for the segments to reach the object
// store. It then reads the topic from its start twice with fresh clients: hot, while the hot log
// still holds it, and cold, after local.retention.ms=0 has made the hot copies go. The result is
// the cold read, with the hot rate and their ratio (ReplayVsHot) beside it: the same partitions
// and bytes, moments apart. It is skipped, with the reason, when no upload shows in the counters
// within DetectTimeout or when the cold read was served without any object GET (the hot copy was
// kept). Each pass also records where CPU went (Figures, where /proc can be read): the CPU
// seconds per GiB read of the broker (strata), the object store (minio) and this process (the
// consumer), and how busy the machine was (hot_… and cold_…): on a small machine shared by all
// three, a cold pass can be bound by the cores, not by the broker.
func Replay(ctx context.Context, t Target, p Params) (Result, error) {
	r := Result{Name: ScenarioReplay, System: t.Broker.System()}
	if t.Broker.MetricsURL() == "" {
		r.Skipped = notStrata
		return r, nil
	}
	topic := fmt.Sprintf("bench-replay-%d", time.Now().UnixNano())
	cfg := map[string]string{"segment.bytes": "8388608", "segment.ms": "1000"}
	if err := CreateTopic(ctx, t, topic, 12, cfg); err != nil {
		return r, err
	}
	start, err := Scrape(ctx, t.Broker.MetricsURL())
	if err != nil {
		return r, err
	}
	before := ObjStoreFrom(start)
	w, err := produceBytes(ctx, t, topic, p.ReplayBytes, p.RecordSize, p.ProduceTimeout)
	if err != nil {
		return r, err
	}
	// Uploaded once the PUT bytes cover what was written (segments add a small index and footer).
	deadline := time.Now().Add(p.DetectTimeout)
	var now ObjStoreCounters
	for {
		if now, err = objCounters(ctx, t); err != nil {
			return r, err
		}
		if now.PutBytes-before.PutBytes >= float64(w.Bytes) || time.Now().After(deadline) {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	if now.Puts == before.Puts {
		r.Skipped = fmt.Sprintf("%s: no object PUT within %v of writing %d MiB to a tiered topic",
			needsTiering, p.DetectTimeout, w.Bytes>>20)
		return r, nil
	}
	// fetched_bytes counts every fetched byte, fetched_tiered_bytes those read from object storage.
	const all, cold = "strata_broker_fetched_bytes_total", "strata_broker_fetched_tiered_bytes_total"
	coldShare := func(a, b Samples) (float64, bool) {
		f := b.Sum(all, nil) - a.Sum(all, nil)
		return (b.Sum(cold, nil) - a.Sum(cold, nil)) / f, f > 0
	}
	preHot, err := Scrape(ctx, t.Broker.MetricsURL())
	if err != nil {
		return r, err
	}
	hotCPU := startPassCPU(t, "consumer")
	hot, err := Consume(ctx, t, p, topic)
	figures := map[string]float64{}
	hotCPU.stop(figures, "hot", hot.Bytes)
	if err != nil {
		return r, fmt.Errorf("hot consume: %w", err)
	}
	postHot, err := Scrape(ctx, t.Broker.MetricsURL())
	if err != nil {
		return r, err
	}
	var notes []string
	if f, ok := coldShare(preHot, postHot); ok && f > 0.01 {
		notes = append(notes, fmt.Sprintf("%.0f%% of the hot pass came from object storage", 100*f))
	}
	if err := alterTopicConfig(ctx, t, topic, "local.retention.ms", "0"); err != nil {
		r.Skipped = fmt.Sprintf("%s: local.retention.ms=0 refused: %v", needsTiering, err)
		return r, nil
	}
	// The hot copies go when local retention next runs after the change: wait until as many
	// local segments were deleted as were uploaded.
	const uploads, dropped = "strata_tier_uploads_total", "strata_tier_local_segments_deleted_total"
	dropDeadline := time.Now().Add(p.HotDropTimeout)
	var pre Samples
	for {
		if pre, err = Scrape(ctx, t.Broker.MetricsURL()); err != nil {
			return r, err
		}
		up, del := pre.Sum(uploads, nil)-start.Sum(uploads, nil), pre.Sum(dropped, nil)-start.Sum(dropped, nil)
		if (up > 0 && del >= up) || time.Now().After(dropDeadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	coldCPU := startPassCPU(t, "consumer")
	c, err := Consume(ctx, t, p, topic)
	if err != nil {
		return r, err
	}
	coldCPU.stop(figures, "cold", c.Bytes)
	post, err := Scrape(ctx, t.Broker.MetricsURL())
	if err != nil {
		return r, err
	}
	after := ObjStoreFrom(post)
	if after.Gets == now.Gets {
		r.Skipped = needsTiering + ": the replay of a local.retention.ms=0 topic made no object GET (the hot copy was kept)"
		return r, nil
	}
	c.Name = ScenarioReplay
	if f, ok := coldShare(pre, post); ok {
		notes = append([]string{fmt.Sprintf("%.0f%% of fetched bytes from object storage", 100*f)}, notes...)
	}
	if up := now.PutBytes - before.PutBytes; up < float64(w.Bytes) {
		notes = append([]string{fmt.Sprintf("only %.0f%% of the bytes were uploaded when the replay began", 100*up/float64(w.Bytes))}, notes...)
	}
	if hot.Records != c.Records || hot.Bytes != c.Bytes {
		notes = append(notes, fmt.Sprintf("the hot pass read %d records, the cold %d", hot.Records, c.Records))
	}
	c.HotMBPerS = hot.MBPerS
	if hot.MBPerS > 0 {
		c.ReplayVsHot = c.MBPerS / hot.MBPerS
	}
	c.Note = strings.Join(notes, "; ")
	if len(figures) > 0 {
		c.Figures = figures
	}
	return c, nil
}

// alterTopicConfig sets one config of topic (IncrementalAlterConfigs).
func alterTopicConfig(ctx context.Context, t Target, topic, name, value string) error {
	cl, err := kgo.NewClient(clientOpts(t)...)
	if err != nil {
		return err
	}
	defer cl.Close()
	resp, err := kadm.NewClient(cl).AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: name, Value: &value}}, topic)
	if err == nil {
		for _, r := range resp {
			if r.Err != nil {
				return fmt.Errorf("%w (%s)", r.Err, r.ErrMessage)
			}
		}
	}
	return err
}

// MinIOGet is the replay baseline: the raw GET bandwidth of the MinIO server at endpoint through the
// same S3 client Strata uses, reading total bytes in 8 MiB objects with parallel concurrent GETs.
func MinIOGet(ctx context.Context, endpoint, user, password string, total int64, parallel int) (Result, error) {
	r := Result{Name: ScenarioReplay, System: SystemMinIO}
	// A MinIO that has just started can answer 503 for a moment even once its readiness probe
	// passes: try for a few seconds before calling the baseline failed.
	var b objstore.Bucket
	var err error
	for deadline := time.Now().Add(10 * time.Second); ; {
		b, err = objstore.Open(ctx, "s3://bench-raw/get?region=us-east-1&endpoint="+endpoint, objstore.WithCredentials(user, password))
		if err == nil || time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil {
		return r, err
	}
	defer b.Close()
	const objSize = 8 << 20
	n := int(max(total/objSize, 1))
	data := randomPayload(objSize)
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("obj-%05d", i)
		if err := b.Put(ctx, keys[i], bytes.NewReader(data), objSize); err != nil {
			return r, fmt.Errorf("minio put: %w", err)
		}
	}
	var next, read atomic.Int64
	var firstErr error
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	for range max(parallel, 1) {
		wg.Add(1)
		go func() { // owned here: each worker ends when the keys run out
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				rc, err := b.Get(ctx, keys[i])
				if err == nil {
					var m int64
					m, err = io.Copy(io.Discard, rc)
					rc.Close()
					read.Add(m)
				}
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					return
				}
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return r, fmt.Errorf("minio get: %w", firstErr)
	}
	r.SetThroughput(int64(n), read.Load(), time.Since(start))
	r.Note = fmt.Sprintf("%d GETs of 8 MiB, %d at a time", n, parallel)
	return r, nil
}

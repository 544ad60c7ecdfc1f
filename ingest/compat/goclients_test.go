//go:build unix

package compat

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// idleLimit ends a consumer that has made no progress for this long.
const idleLimit = 20 * time.Second

func key(i int) string   { return "k" + strconv.Itoa(i%100) }
func value(i int) string { return "v" + strconv.Itoa(i) }

// createTopic creates topic with the scenario's partition count through kadm.
func createTopic(ctx context.Context, addr, topic string, opts ...kgo.Opt) error {
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr)}, opts...)...)
	if err != nil {
		return err
	}
	defer cl.Close()
	resp, err := kadm.NewClient(cl).CreateTopic(ctx, partitions, 1, nil, topic)
	if err != nil {
		return fmt.Errorf("create topic %s: %w", topic, err)
	}
	if resp.Err != nil {
		return fmt.Errorf("create topic %s: %w (%s)", topic, resp.Err, resp.ErrMessage)
	}
	return nil
}

// runFranz is the scenario with franz-go: kadm creates the topic, kgo produces (idempotent by
// default) and consumes in a group with auto-commit off and CommitRecords after each poll.
func runFranz(ctx context.Context, logf func(string, ...any), addr, topic string) (Summary, error) {
	if err := createTopic(ctx, addr, topic); err != nil {
		return Summary{}, err
	}
	tl := newTally()

	if err := produceFranz(ctx, logf, addr, topic, tl); err != nil {
		return Summary{}, err
	}
	produced := tl.producedCount()

	consume := func(want int, label string) (int, error) {
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr),
			kgo.ConsumerGroup(topic+"-group"), kgo.ConsumeTopics(topic),
			kgo.DisableAutoCommit(), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.SessionTimeout(10*time.Second))
		if err != nil {
			return 0, err
		}
		defer cl.Close() // leaves the group
		processed := 0
		lastProgress := time.Now()
		for processed < want && tl.uniqueSeen() < produced {
			if ctx.Err() != nil || time.Since(lastProgress) > idleLimit {
				logf("franz-go: %s: giving up after %d records", label, processed)
				break
			}
			pctx, cancel := context.WithTimeout(ctx, 500*time.Millisecond)
			fetches := cl.PollRecords(pctx, 500)
			cancel()
			for _, fe := range fetches.Errors() {
				if !errors.Is(fe.Err, context.DeadlineExceeded) && !errors.Is(fe.Err, context.Canceled) {
					return processed, fmt.Errorf("fetch %s/%d: %w", fe.Topic, fe.Partition, fe.Err)
				}
			}
			recs := fetches.Records()
			if len(recs) == 0 {
				continue
			}
			for _, r := range recs {
				tl.record(r.Partition, r.Offset, r.Value)
			}
			processed += len(recs)
			if err := cl.CommitRecords(ctx, recs...); err != nil {
				return processed, fmt.Errorf("commit: %w", err)
			}
			lastProgress = time.Now()
		}
		return processed, nil
	}
	first, err := consume(produced/2, "first")
	if err != nil {
		return tl.summary("franz-go", first, 0), err
	}
	second, err := consume(int(^uint(0)>>1), "second")
	return tl.summary("franz-go", first, second), err
}

// produceFranz produces the scenario's records to topic with an idempotent acks=all kgo
// producer, noting each acknowledged record in tl.
func produceFranz(ctx context.Context, logf func(string, ...any), addr, topic string, tl *tally) error {
	prod, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.ProducerLinger(5*time.Millisecond))
	if err != nil {
		return err
	}
	var (
		errMu    sync.Mutex
		firstErr error
	)
	for i := range recordCount {
		seq := i
		prod.Produce(ctx, &kgo.Record{Key: []byte(key(i)), Value: []byte(value(i))},
			func(_ *kgo.Record, err error) {
				if err != nil {
					errMu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					errMu.Unlock()
					return
				}
				tl.ack(seq)
			})
	}
	flushErr := prod.Flush(ctx)
	prod.Close()
	if flushErr != nil || firstErr != nil {
		logf("franz-go: produce: flush %v, first record error %v", flushErr, firstErr)
	}
	return nil
}

// runSarama is the scenario with IBM/sarama speaking the protocol of the given Kafka version
// (sarama picks request versions from it, capped by the broker's ApiVersions): ClusterAdmin
// creates the topic, an idempotent SyncProducer produces, and a ConsumerGroup with auto-commit
// off marks each processed record and commits synchronously (session.Commit) every 100
// records and when its claim runs dry.
func runSarama(version sarama.KafkaVersion) func(context.Context, func(string, ...any), string, string) (Summary, error) {
	return func(ctx context.Context, logf func(string, ...any), addr, topic string) (Summary, error) {
		return runSaramaVersion(ctx, logf, addr, topic, version)
	}
}

// runSaramaVersion runs the scenario with sarama at version; tune, when given, changes the
// configuration after the scenario's settings (SASL, for example).
func runSaramaVersion(ctx context.Context, logf func(string, ...any), addr, topic string, version sarama.KafkaVersion,
	tune ...func(*sarama.Config)) (Summary, error) {
	cfg := sarama.NewConfig()
	cfg.ClientID = "strata-compat-sarama"
	cfg.Version = version
	cfg.Producer.Idempotent = true
	cfg.Producer.RequiredAcks = sarama.WaitForAll
	cfg.Producer.Return.Successes = true
	cfg.Producer.Retry.Max = 10
	cfg.Net.MaxOpenRequests = 1
	cfg.Consumer.Offsets.AutoCommit.Enable = false
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	cfg.Consumer.Group.Session.Timeout = 10 * time.Second
	cfg.Consumer.Group.Heartbeat.Interval = time.Second
	for _, f := range tune {
		f(cfg)
	}

	admin, err := sarama.NewClusterAdmin([]string{addr}, cfg)
	if err != nil {
		return Summary{}, fmt.Errorf("cluster admin: %w", err)
	}
	err = admin.CreateTopic(topic, &sarama.TopicDetail{NumPartitions: partitions, ReplicationFactor: 1}, false)
	admin.Close()
	if err != nil {
		return Summary{}, fmt.Errorf("create topic: %w", err)
	}

	tl := newTally()
	prod, err := sarama.NewSyncProducer([]string{addr}, cfg)
	if err != nil {
		return Summary{}, fmt.Errorf("producer: %w", err)
	}
	msgs := make([]*sarama.ProducerMessage, recordCount)
	for i := range msgs {
		msgs[i] = &sarama.ProducerMessage{Topic: topic, Key: sarama.StringEncoder(key(i)),
			Value: sarama.StringEncoder(value(i)), Metadata: i}
	}
	// SendMessages reports the records that failed; every other record was acknowledged.
	sendErr := prod.SendMessages(msgs)
	var perrs sarama.ProducerErrors
	switch {
	case sendErr == nil || errors.As(sendErr, &perrs):
		failed := map[int]bool{}
		for _, pe := range perrs {
			failed[pe.Msg.Metadata.(int)] = true
		}
		for i := range msgs {
			if !failed[i] {
				tl.ack(i)
			}
		}
		if len(perrs) > 0 {
			logf("sarama: %d produce errors, first: %v", len(perrs), perrs[0].Err)
		}
	default:
		logf("sarama: produce: %v", sendErr)
	}
	if err := prod.Close(); err != nil {
		logf("sarama: producer close: %v", err)
	}
	produced := tl.producedCount()

	consume := func(want int, label string) (int, error) {
		group, err := sarama.NewConsumerGroup([]string{addr}, topic+"-group", cfg)
		if err != nil {
			return 0, fmt.Errorf("consumer group: %w", err)
		}
		h := &saramaHandler{tl: tl, want: want, produced: produced, progress: make(chan struct{}, 1)}
		cctx, cancel := context.WithCancel(ctx)
		defer cancel()
		h.stop = cancel
		done := make(chan error, 1)
		go func() {
			var err error
			for cctx.Err() == nil && err == nil {
				err = group.Consume(cctx, []string{topic}, h)
			}
			done <- err
		}()
		idle := time.NewTimer(idleLimit)
		defer idle.Stop()
	wait:
		for {
			select {
			case <-cctx.Done():
				break wait
			case <-h.progress:
				idle.Reset(idleLimit)
			case <-idle.C:
				logf("sarama: %s: giving up after %d records", label, h.count())
				cancel()
			}
		}
		consumeErr := <-done
		if err := group.Close(); err != nil {
			logf("sarama: %s: close: %v", label, err)
		}
		if err := h.err(); err != nil {
			return h.count(), err
		}
		if consumeErr != nil && !errors.Is(consumeErr, context.Canceled) {
			return h.count(), consumeErr
		}
		return h.count(), nil
	}
	first, err := consume(produced/2, "first")
	if err != nil {
		return tl.summary("sarama", first, 0), err
	}
	second, err := consume(int(^uint(0)>>1), "second")
	return tl.summary("sarama", first, second), err
}

// saramaHandler processes claims for one group member. Recording, marking and the stop
// decision happen under tl.mu, so no record is counted without being marked, and nothing is
// processed after the member decided to stop.
type saramaHandler struct {
	tl       *tally
	want     int
	produced int
	stop     context.CancelFunc
	progress chan struct{}

	// guarded by tl.mu
	processed int
	stopping  bool
	firstErr  error
}

func (h *saramaHandler) Setup(sarama.ConsumerGroupSession) error   { return nil }
func (h *saramaHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }

func (h *saramaHandler) count() int {
	h.tl.mu.Lock()
	defer h.tl.mu.Unlock()
	return h.processed
}

func (h *saramaHandler) err() error {
	h.tl.mu.Lock()
	defer h.tl.mu.Unlock()
	return h.firstErr
}

func (h *saramaHandler) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	sinceCommit := 0
	for {
		select {
		case <-sess.Context().Done():
			return nil
		case m, ok := <-claim.Messages():
			if !ok {
				return nil
			}
			h.tl.mu.Lock()
			if h.stopping {
				h.tl.mu.Unlock()
				return nil
			}
			h.tl.recordLocked(m.Partition, m.Offset, m.Value)
			sess.MarkMessage(m, "")
			h.processed++
			done := h.processed >= h.want || len(h.tl.seen) >= h.produced
			if done {
				h.stopping = true
			}
			h.tl.mu.Unlock()
			sinceCommit++
			select {
			case h.progress <- struct{}{}:
			default:
			}
			if done || sinceCommit >= 100 || len(claim.Messages()) == 0 {
				sess.Commit()
				sinceCommit = 0
			}
			if done {
				h.stop()
				return nil
			}
		}
	}
}

// testCompression produces with every codec Kafka defines through franz-go and reads each
// batch back: the broker must accept compressed batches and return them intact.
func testCompression(t *testing.T, addr string) {
	codecs := []struct {
		name  string
		codec kgo.CompressionCodec
	}{
		{"none", kgo.NoCompression()},
		{"gzip", kgo.GzipCompression()},
		{"snappy", kgo.SnappyCompression()},
		{"lz4", kgo.Lz4Compression()},
		{"zstd", kgo.ZstdCompression()},
	}
	const n = 1000
	for _, c := range codecs {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), clientLimit)
			defer cancel()
			topic := topicName("codec-" + c.name)
			if err := createTopic(ctx, addr, topic); err != nil {
				t.Fatal(err)
			}
			prod, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic(topic),
				kgo.ProducerBatchCompression(c.codec), kgo.ProducerLinger(5*time.Millisecond))
			if err != nil {
				t.Fatal(err)
			}
			recs := make([]*kgo.Record, n)
			for i := range recs {
				recs[i] = &kgo.Record{Key: []byte(key(i)), Value: []byte(value(i) + " " + strings.Repeat("x", 100))}
			}
			err = prod.ProduceSync(ctx, recs...).FirstErr()
			prod.Close()
			if err != nil {
				t.Fatalf("produce with %s: %v", c.name, err)
			}
			cons, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic),
				kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
			if err != nil {
				t.Fatal(err)
			}
			defer cons.Close()
			tl := newTally()
			for i := range n {
				tl.ack(i)
			}
			got := 0
			for got < n && ctx.Err() == nil {
				fs := cons.PollFetches(ctx)
				if err := fs.Err0(); err != nil && ctx.Err() == nil {
					t.Fatalf("fetch after %d records: %v", got, err)
				}
				fs.EachRecord(func(r *kgo.Record) {
					v, _, _ := strings.Cut(string(r.Value), " ")
					tl.record(r.Partition, r.Offset, []byte(v))
					got++
				})
			}
			s := tl.summary(c.name, got, 0)
			if got != n || s.Missing != 0 || s.Duplicates != 0 || !s.InOrder {
				t.Fatalf("%s: read %d of %d records, %d missing, %d duplicates, in order %v",
					c.name, got, n, s.Missing, s.Duplicates, s.InOrder)
			}
		})
	}
}

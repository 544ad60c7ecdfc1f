package natsmeta

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Group commit of compare-and-swap writes.
//
// Every write to a bucket costs the server one fsync before it answers (one Raft entry on a
// cluster). A node leading hundreds of partitions registers each partition's range of a flush's
// object in its own catalog key at the same moment, so a flush of 256 partitions paid 256 fsyncs in
// a row before its last producer could be acknowledged.
//
// A putBatcher lets up to aloneMax writes per bucket be in flight alone, as without it. Writes
// that arrive while that many are in flight queue; once batchMinPuts have queued, and no batch is
// in flight, everything queued goes out together as one JetStream atomic batch (ADR-50:
// Nats-Batch-Id, Nats-Batch-Sequence, Nats-Batch-Commit). Each message keeps its own
// compare-and-swap (Nats-Expected-Last-Subject-Sequence) and message id, and the server stores the
// batch all or nothing, with one fsync on a single server and one Raft entry on a cluster. So a
// batch is exactly the writes it holds, each checked as if sent alone, made durable together. No
// write waits for a timer: a queued write goes alone as soon as there is room and no batch is due.
//
// Batches are for bursts only because they have a fixed cost: a single server stages an atomic
// batch of a file-backed stream in a file store of its own, created and removed per batch.
// Measured here, a batch of 3 took about 7 ms where 3 writes alone take about 1 ms, and a batch of
// 250 about 10 ms where they take about 85 ms alone.
//
// All or nothing cuts both ways: one stale revision refuses the whole batch. Then each of its
// writes is sent again alone, with the same message id, as a put whose first send is uncertain
// (see Store.put), so each lands or fails on its own merits, never twice.
//
// Batching needs the stream's allow_atomic setting (NATS 2.12 or later); Open turns it on for the
// buckets that use it and leaves a bucket unbatched when the server does not keep the setting.
type putBatcher struct {
	s *Store
	b *bucket

	aloneMax, minPuts int // aloneMax and batchMinPuts when it was made

	mu       sync.Mutex
	alone    int          // writes in flight alone
	batching bool         // a batch is in flight
	queue    []*queuedPut // writes waiting
}

// Limits of one batch: the server's default cap on messages per atomic batch is 1,000, and a
// catalog value may be up to the payload limit.
const (
	batchMaxPuts  = 256
	batchMaxBytes = 8 << 20
)

// aloneMax writes of a bucket may be in flight alone; batchMinPuts queued writes make a batch.
// Variables so tests can force batches; a batcher keeps the values it was made with.
var (
	aloneMax     = 8
	batchMinPuts = 16
)

// queuedPut is one write waiting in a putBatcher's queue.
type queuedPut struct {
	ctx   context.Context
	key   string
	value []byte
	rev   uint64
	o     putOpts
	id    string

	done  chan struct{} // closed once seq and err, or alone, are set
	seq   uint64
	err   error
	alone bool // not written by a batch: the writer sends it alone
	again bool // alone after a refused batch
	gone  bool // the writer stopped waiting (its ctx ended)
}

// batchable reports whether put may route this write through a batcher: a compare-and-swap of a
// value, without a TTL or a purge (their headers are not worth the cases they would add).
func batchable(b *bucket, rev uint64, o putOpts) bool {
	return b.batch != nil && rev != anyRev && !o.purge && o.ttl == 0
}

// write sends one compare-and-swap write through the batcher. It reports alone=true when the
// caller must send the write itself and then call done; uncertain then says whether a refused
// batch held it. Otherwise seq or err is the write's outcome.
func (q *putBatcher) write(ctx context.Context, key string, value []byte, rev uint64, o putOpts, id string) (seq uint64, alone, uncertain bool, err error) {
	q.mu.Lock()
	if q.alone < q.aloneMax && len(q.queue) == 0 {
		q.alone++
		q.mu.Unlock()
		return 0, true, false, nil
	}
	p := &queuedPut{ctx: ctx, key: key, value: value, rev: rev, o: o, id: id, done: make(chan struct{})}
	q.queue = append(q.queue, p)
	q.dispatch()
	q.mu.Unlock()
	select {
	case <-p.done:
		if p.alone {
			return 0, true, p.again, nil
		}
		return p.seq, false, false, p.err
	case <-ctx.Done():
		q.mu.Lock()
		defer q.mu.Unlock()
		select {
		case <-p.done:
			if p.alone {
				// Given a turn it will not use.
				q.alone--
				q.dispatch()
				return 0, false, false, ctx.Err()
			}
			return p.seq, false, false, p.err
		default:
			// Still queued, it is dropped when the queue is next looked at; in a batch in
			// flight, it may land, as a put that times out may.
			p.gone = true
			return 0, false, false, ctx.Err()
		}
	}
}

// done ends a write sent alone.
func (q *putBatcher) done() {
	q.mu.Lock()
	q.alone--
	q.dispatch()
	q.mu.Unlock()
}

// dispatch sends what the queue calls for: a batch when enough writes wait and none is in flight,
// else the writes at its head alone while there is room. Called with mu held.
func (q *putBatcher) dispatch() {
	live := q.queue[:0]
	for _, p := range q.queue {
		if err := p.ctx.Err(); err != nil {
			p.err = err
			close(p.done)
		} else {
			live = append(live, p)
		}
	}
	clear(q.queue[len(live):])
	q.queue = live
	if len(q.queue) >= q.minPuts {
		if !q.batching {
			q.batching = true
			go q.send()
		}
		return
	}
	for len(q.queue) > 0 && q.alone < q.aloneMax {
		p := q.queue[0]
		q.queue = q.queue[1:]
		q.alone++
		p.alone = true
		close(p.done)
	}
}

// take removes the next batch from the queue. A second write of a key already in the batch waits
// for the next one (it would fail the batch's swap), and so do writes past the batch limits.
// Called with mu held.
func (q *putBatcher) take() []*queuedPut {
	var batch, rest []*queuedPut
	keys := make(map[string]bool)
	size := 0
	for _, p := range q.queue {
		if keys[p.key] || len(batch) == batchMaxPuts || (len(batch) > 0 && size+len(p.value) > batchMaxBytes) {
			rest = append(rest, p)
			continue
		}
		keys[p.key] = true
		size += len(p.value)
		batch = append(batch, p)
	}
	clear(q.queue)
	q.queue = rest
	return batch
}

// send takes the queue's next batch, writes it as one atomic batch and answers its writers; a
// refused batch's writers send their writes alone. It takes the batch only once it runs, so the
// writers of a burst that queue meanwhile (a flush's partitions are answered together) join it.
func (q *putBatcher) send() {
	q.mu.Lock()
	batch := q.take()
	if len(batch) == 0 { // its writers gave up
		q.batching = false
		q.dispatch()
		q.mu.Unlock()
		return
	}
	q.mu.Unlock()
	seqs, err := q.commit(batch)
	if err != nil {
		q.s.m.batchFallbacks.WithLabelValues(q.b.name).Inc()
		q.s.log.Debug("natsmeta: batch refused; its writes go alone", "bucket", q.b.name, "writes", len(batch), "err", err)
	} else {
		q.s.m.batchSize.WithLabelValues(q.b.name).Observe(float64(len(batch)))
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	for i, p := range batch {
		switch {
		case err != nil && p.gone:
		case err != nil:
			q.alone++
			p.alone, p.again = true, true
		default:
			p.seq = seqs[i]
			q.b.cache.set(p.key, entry{value: p.value, rev: p.seq, live: true, memo: p.o.memo})
		}
		close(p.done)
	}
	q.batching = false
	q.dispatch()
}

// batchAck is the server's answer to a batch's commit message.
type batchAck struct {
	Error *struct {
		Code        int    `json:"code"`
		ErrCode     int    `json:"err_code"`
		Description string `json:"description"`
	} `json:"error"`
	Stream string `json:"stream"`
	Seq    uint64 `json:"seq"`
	Batch  string `json:"batch"`
	Count  uint64 `json:"count"`
}

// commit sends batch as one atomic batch and returns each write's stream sequence. Any error
// means no write of the batch is known to have been applied.
func (q *putBatcher) commit(batch []*queuedPut) ([]uint64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), q.s.cfg.OpTimeout)
	defer cancel()
	id := newMsgID()
	var reply *nats.Msg
	for i, p := range batch {
		m := nats.NewMsg(q.b.subj + p.key)
		m.Data = p.value
		m.Header.Set("Nats-Batch-Id", id)
		m.Header.Set("Nats-Batch-Sequence", strconv.Itoa(i+1))
		m.Header.Set(jetstream.MsgIDHeader, p.id)
		m.Header.Set(jetstream.ExpectedStreamHeader, q.b.stream)
		m.Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(p.rev, 10))
		if i < len(batch)-1 {
			if err := q.b.nc.PublishMsg(m); err != nil {
				return nil, err
			}
			continue
		}
		m.Header.Set("Nats-Batch-Commit", "1")
		var err error
		if reply, err = q.b.nc.RequestMsgWithContext(ctx, m); err != nil {
			return nil, err
		}
	}
	var ack batchAck
	if err := json.Unmarshal(reply.Data, &ack); err != nil {
		return nil, fmt.Errorf("natsmeta: batch answer: %w", err)
	}
	if ack.Error != nil {
		return nil, &jetstream.APIError{Code: ack.Error.Code, ErrorCode: jetstream.ErrorCode(ack.Error.ErrCode), Description: ack.Error.Description}
	}
	n := uint64(len(batch))
	if ack.Batch != id || ack.Count != n || ack.Seq < n {
		return nil, fmt.Errorf("natsmeta: batch %s of %d answered as batch %q of %d ending at %d", id, n, ack.Batch, ack.Count, ack.Seq)
	}
	seqs := make([]uint64, n)
	for i := range seqs {
		seqs[i] = ack.Seq - n + 1 + uint64(i)
	}
	return seqs, nil
}

// enableBatching turns on atomic batches for b's stream and gives b a batcher, unless the server
// does not keep the setting (older than 2.12) or refuses the change (an account that may not edit
// streams); b then writes unbatched, as before.
func (s *Store) enableBatching(ctx context.Context, b *bucket) {
	err := s.call(ctx, "open_bucket", func(ctx context.Context) error {
		st, err := s.js.Stream(ctx, b.stream)
		if err != nil {
			return err
		}
		cfg := st.CachedInfo().Config
		if !cfg.AllowAtomicPublish {
			cfg.AllowAtomicPublish = true
			info, err := s.js.UpdateStream(ctx, cfg)
			if err != nil {
				return err
			}
			if !info.CachedInfo().Config.AllowAtomicPublish {
				return errors.New("the server does not keep allow_atomic (NATS 2.12 or later has it)")
			}
		}
		return nil
	})
	if err != nil {
		s.log.Warn("natsmeta: writes to this bucket are not batched", "bucket", b.name, "err", err)
		return
	}
	b.batch = &putBatcher{s: s, b: b, aloneMax: aloneMax, minPuts: batchMinPuts}
}

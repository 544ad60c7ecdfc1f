package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-log/strata/ingest/broker"
	"github.com/strata-log/strata/ingest/httpapi"
	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/query"
	"github.com/strata-log/strata/tier"
)

// queryFlags are the server's limits on SQL and search queries (package query).
type queryFlags struct {
	timeout  time.Duration
	memory   int64
	maxRows  int64
	threads  int
	parallel int
}

func (q *queryFlags) register(fs *flag.FlagSet) {
	fs.DurationVar(&q.timeout, "query-timeout", 30*time.Second, "longest a SQL or search query may run")
	fs.Int64Var(&q.memory, "query-memory", 256<<20, "bytes a SQL or search query may hold in the engine")
	fs.Int64Var(&q.maxRows, "query-max-rows", 100_000, "rows a SQL or search query may return")
	fs.IntVar(&q.threads, "query-threads", 2, "engine threads per query")
	fs.IntVar(&q.parallel, "query-concurrency", 4, "queries running at once; more are answered 429")
}

// mountQuery adds POST /v1/sql and GET /v1/search to routes.
func mountQuery(n *node, routes *http.ServeMux, q queryFlags, b *broker.Broker, store metadata.Store, objects *tier.Reader,
	peer *peerClient, authz httpapi.Authorizer, reg prometheus.Registerer, log *slog.Logger) error {
	tail := &queryTail{b: b, store: store, peer: peer}
	n.onClose(peer.close)
	e, err := query.New(query.Config{Topics: store, Catalogs: store, Objects: objects, Tail: tail,
		Timeout: q.timeout, MemoryLimit: q.memory, MaxRows: q.maxRows, Threads: q.threads, MaxConcurrent: q.parallel,
		Authorize: queryAuthorizer(authz), Registerer: reg, Logger: log})
	if err != nil {
		return fmt.Errorf("query: %w", err)
	}
	n.onClose(func() { e.Close() })
	if authz == nil {
		e.Register(routes)
		return nil
	}
	// The authorizer needs the client's address beside the principal the HTTP layer put in
	// the request's context.
	sub := http.NewServeMux()
	e.Register(sub)
	routes.Handle("POST /v1/sql", httpapi.WithClientHost(sub))
	routes.Handle("GET /v1/search", httpapi.WithClientHost(sub))
	return nil
}

// queryAuthorizer lets a query read a topic its HTTP user may READ (nil without an authorizer).
func queryAuthorizer(authz httpapi.Authorizer) func(ctx context.Context, topic string) bool {
	if authz == nil {
		return nil
	}
	return func(ctx context.Context, topic string) bool {
		return httpapi.AuthorizeContext(ctx, authz, metadata.OpRead, metadata.ResourceTopic, topic)
	}
}

// queryTail reads partitions' hot tails for queries: in process from the broker when this node
// leads the partition, else with a Kafka Fetch (and ListOffsets) to the leader the metadata
// names, through one franz-go client found from this node's own listener. A Fetch costs the
// leader what a consumer costs it, and reads exactly what consumers see (up to the high
// watermark); no new inter-node protocol is needed.
type queryTail struct {
	b     *broker.Broker
	store metadata.Store
	peer  *peerClient
}

var _ query.Tail = (*queryTail)(nil)

func (t *queryTail) ReadTail(ctx context.Context, tp metadata.TopicPartition, offset int64, maxBytes int) ([]byte, int64, error) {
	if t.b.Leads(tp) {
		res, err := t.b.Fetch(ctx, tp, offset, maxBytes)
		if broker.Code(err) == kerr.OffsetOutOfRange.Code {
			start, _, serr := t.b.ListOffset(ctx, tp, broker.EarliestTimestamp)
			if serr == nil && start > offset {
				res, err = t.b.Fetch(ctx, tp, start, maxBytes)
			}
		}
		if err != nil {
			return nil, -1, err
		}
		recs := slices.Clone(res.Records)
		if res.Release != nil {
			res.Release()
		}
		return recs, res.HighWatermark, nil
	}
	return t.remoteFetch(ctx, tp, offset, maxBytes, true)
}

func (t *queryTail) remoteFetch(ctx context.Context, tp metadata.TopicPartition, offset int64, maxBytes int, retry bool) ([]byte, int64, error) {
	lease, err := t.store.GetLease(ctx, tp)
	if errors.Is(err, metadata.ErrNotFound) {
		return nil, -1, fmt.Errorf("%s has no leader now", tp)
	} else if err != nil {
		return nil, -1, err
	}
	cl, err := t.peer.get()
	if err != nil {
		return nil, -1, err
	}
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID, req.MaxBytes, req.MinBytes, req.MaxWaitMillis = -1, int32(maxBytes), 0, 0
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = tp.Topic
	if topic, err := t.store.GetTopic(ctx, tp.Topic); err == nil {
		rt.TopicID = topic.ID
	}
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = tp.Partition, offset, int32(maxBytes)
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl.Broker(int(lease.Node)))
	if err != nil {
		return nil, -1, fmt.Errorf("fetch from node %d: %w", lease.Node, err)
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		return nil, -1, fmt.Errorf("fetch from node %d: an answer without %s", lease.Node, tp)
	}
	p := resp.Topics[0].Partitions[0]
	switch err := kerr.ErrorForCode(p.ErrorCode); {
	case err == nil:
		return p.RecordBatches, p.HighWatermark, nil
	case errors.Is(err, kerr.OffsetOutOfRange) && p.LogStartOffset > offset && retry:
		return t.remoteFetch(ctx, tp, p.LogStartOffset, maxBytes, false)
	case (errors.Is(err, kerr.NotLeaderForPartition) || errors.Is(err, kerr.UnknownTopicOrPartition)) && retry:
		return t.remoteFetch(ctx, tp, offset, maxBytes, false) // leadership moved meanwhile
	default:
		return nil, -1, fmt.Errorf("fetch from node %d: %w", lease.Node, err)
	}
}

func (t *queryTail) LeaderEpoch(ctx context.Context, tp metadata.TopicPartition) (int32, error) {
	if e := t.b.Epoch(tp); e >= 0 {
		return e, nil
	}
	l, err := t.store.GetLease(ctx, tp)
	if err != nil {
		return -1, err
	}
	return l.Epoch, nil
}

func (t *queryTail) OffsetForTime(ctx context.Context, tp metadata.TopicPartition, ts int64) (int64, bool, error) {
	if t.b.Leads(tp) {
		off, _, err := t.b.ListOffset(ctx, tp, ts)
		return off, err == nil && off >= 0, err
	}
	cl, err := t.peer.get()
	if err != nil {
		return -1, false, err
	}
	req := kmsg.NewPtrListOffsetsRequest()
	req.ReplicaID = -1
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = tp.Topic
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Partition, rp.Timestamp, rp.CurrentLeaderEpoch = tp.Partition, ts, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return -1, false, err
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		return -1, false, fmt.Errorf("list offsets: an answer without %s", tp)
	}
	p := resp.Topics[0].Partitions[0]
	if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
		return -1, false, fmt.Errorf("list offsets of %s: %w", tp, err)
	}
	return p.Offset, p.Offset >= 0, nil
}

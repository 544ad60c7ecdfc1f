package kafka

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-log/strata/ingest/broker"
	"github.com/strata-log/strata/ingest/group"
	"github.com/strata-log/strata/ingest/topics"
	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/metadata/memmeta"
	"github.com/strata-log/strata/metadata/natsmeta/natsmetatest"
	"github.com/strata-log/strata/tier/hotlog"
	"github.com/strata-log/strata/tier/segment/segmenttest"
)

// testNode is one real Strata node: hot log in a temp dir, a metadata store, the broker, the group
// coordinator and the Kafka listener on 127.0.0.1:0.
type testNode struct {
	srv   *Server
	b     *broker.Broker
	store metadata.Store
	addr  string
	dir   string // hot-log directory

	stopOnce sync.Once
	stops    []func() // run in reverse order by stop
}

// stop shuts the node down (listener, group coordinator, broker, hot log) as a process exit would
// after a clean shutdown. The metadata store stays up. Idempotent; also run at test cleanup.
func (n *testNode) stop() {
	n.stopOnce.Do(func() {
		for i := len(n.stops) - 1; i >= 0; i-- {
			n.stops[i]()
		}
	})
}

type nodeOpts struct {
	brokerCfg func(*broker.Config)
	serverCfg func(*Config)
	groupCfg  func(*group.Config)
	store     metadata.Store
	// memStore uses the in-memory store instead of embedded NATS JetStream (fuzzing speed).
	memStore bool
	// dataDir and listenAddr reuse a stopped node's hot log and address (restart tests).
	dataDir, listenAddr string
}

func startNode(t testing.TB, o nodeOpts) *testNode {
	t.Helper()
	ctx := context.Background()
	st := o.store
	if st == nil && !o.memStore {
		st = natsmetatest.Store(t)
	}
	if st == nil {
		ms, err := memmeta.New(memmeta.Config{FirstProducerID: 1000})
		if err != nil {
			t.Fatal(err)
		}
		st = ms
		t.Cleanup(func() { ms.Close() })
	}
	n := &testNode{store: st, dir: o.dataDir}
	if n.dir == "" {
		n.dir = t.TempDir()
	}
	t.Cleanup(n.stop)
	dir, err := hotlog.OpenDir(n.dir, hotlog.Config{})
	if err != nil {
		t.Fatal(err)
	}
	n.stops = append(n.stops, func() { dir.Close() })

	listen := o.listenAddr
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		t.Fatal(err)
	}
	bcfg := broker.Config{NodeID: 1, KafkaAddr: ln.Addr().String(), HotLog: dir, Store: st}
	if o.brokerCfg != nil {
		o.brokerCfg(&bcfg)
	}
	b, err := broker.New(bcfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(ctx); err != nil {
		t.Fatal(err)
	}
	n.stops = append(n.stops, func() { b.Close() })

	gcfg := group.Config{Store: st, NodeID: bcfg.NodeID, IsCoordinator: b.IsCoordinator}
	if o.groupCfg != nil {
		o.groupCfg(&gcfg)
	}
	g, err := group.New(gcfg)
	if err != nil {
		t.Fatal(err)
	}
	n.stops = append(n.stops, func() { g.Close() })

	admin, err := topics.New(topics.Config{NodeID: bcfg.NodeID, Store: st, Node: b, Defaults: bcfg.Defaults})
	if err != nil {
		t.Fatal(err)
	}
	scfg := Config{NodeID: bcfg.NodeID, Broker: b, Topics: admin, Groups: g}
	if o.serverCfg != nil {
		o.serverCfg(&scfg)
	}
	srv, err := New(scfg)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(ctx, ln)
	}()
	n.stops = append(n.stops, func() {
		srv.Close()
		<-served
	})
	n.srv, n.b, n.addr = srv, b, ln.Addr().String()
	return n
}

func (n *testNode) client(t testing.TB, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(n.addr)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func (n *testNode) admin(t testing.TB) *kadm.Client {
	return kadm.NewClient(n.client(t))
}

func (n *testNode) createTopic(t testing.TB, name string, partitions int32, configs map[string]*string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := n.admin(t).CreateTopic(ctx, partitions, 1, configs, name)
	if err != nil || resp.Err != nil {
		t.Fatalf("create topic %s: %v %v", name, err, resp.Err)
	}
}

// rawConn is a hand-driven Kafka connection for requests a real client would never send.
type rawConn struct {
	t    testing.TB
	c    net.Conn
	corr int32
}

func (n *testNode) raw(t testing.TB) *rawConn {
	t.Helper()
	c, err := net.Dial("tcp", n.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	return &rawConn{t: t, c: c}
}

// send writes req (at its set version) with a correct header and returns the correlation id.
func (r *rawConn) send(req kmsg.Request) int32 {
	r.t.Helper()
	r.corr++
	f := kmsg.RequestFormatter{}
	buf := f.AppendRequest(nil, req, r.corr)
	if _, err := r.c.Write(buf); err != nil {
		r.t.Fatal(err)
	}
	return r.corr
}

// writeRaw sends bytes as they are.
func (r *rawConn) writeRaw(b []byte) {
	r.t.Helper()
	if _, err := r.c.Write(b); err != nil {
		r.t.Fatal(err)
	}
}

// readFrame reads one response frame: correlation id and the rest.
func (r *rawConn) readFrame() (int32, []byte, error) {
	var sz [4]byte
	if _, err := io.ReadFull(r.c, sz[:]); err != nil {
		return 0, nil, err
	}
	body := make([]byte, binary.BigEndian.Uint32(sz[:]))
	if _, err := io.ReadFull(r.c, body); err != nil {
		return 0, nil, err
	}
	return int32(binary.BigEndian.Uint32(body)), body[4:], nil
}

// roundTrip sends req and decodes its response (response header v1 for flexible versions except
// ApiVersions).
func (r *rawConn) roundTrip(req kmsg.Request) kmsg.Response {
	r.t.Helper()
	corr := r.send(req)
	got, body, err := r.readFrame()
	if err != nil {
		r.t.Fatalf("read response to %s: %v", kmsg.NameForKey(req.Key()), err)
	}
	if got != corr {
		r.t.Fatalf("correlation id %d, want %d", got, corr)
	}
	resp := req.ResponseKind()
	if req.IsFlexible() && req.Key() != kmsg.ApiVersions.Int16() {
		body = body[1:] // empty tag section
	}
	if err := resp.ReadFrom(body); err != nil {
		r.t.Fatalf("decode %s response: %v", kmsg.NameForKey(req.Key()), err)
	}
	return resp
}

// expectClosed asserts the server closed the connection (EOF or reset, not a response).
func (r *rawConn) expectClosed() {
	r.t.Helper()
	_, _, err := r.readFrame()
	if err == nil {
		r.t.Fatal("got a response; want the connection closed")
	}
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		r.t.Fatalf("connection still open: %v", err)
	}
}

// recordBatch builds a RecordBatch v2 with n records the way a client does (producerID < 0: not
// idempotent).
func recordBatch(n int, producerID int64, epoch int16, baseSeq int32) []byte {
	vals := make([][]byte, n)
	for i := range vals {
		vals[i] = []byte(fmt.Sprintf("value-%d", i))
	}
	return segmenttest.Batch{FirstTimestamp: time.Now().UnixMilli(), ProducerID: producerID,
		ProducerEpoch: epoch, BaseSequence: baseSeq, Values: vals}.Encode()
}

// produceRequest is a Produce v9 of one batch to one partition.
func produceRequest(topic string, partition int32, batch []byte, acks int16, timeoutMillis int32) *kmsg.ProduceRequest {
	req := kmsg.NewPtrProduceRequest()
	req.SetVersion(9)
	req.Acks, req.TimeoutMillis = acks, timeoutMillis
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition, rp.Records = partition, batch
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

// readProduce reads the next response, which must answer corr, as a Produce v9 response to one
// partition (requests sent with send, several possibly in flight).
func (r *rawConn) readProduce(corr int32) kmsg.ProduceResponseTopicPartition {
	r.t.Helper()
	got, body, err := r.readFrame()
	if err != nil || got != corr {
		r.t.Fatalf("produce response: correlation id %d (want %d), %v", got, corr, err)
	}
	resp := kmsg.NewPtrProduceResponse()
	resp.SetVersion(9)
	if err := resp.ReadFrom(body[1:]); err != nil { // body[0]: the empty tag section of header v1
		r.t.Fatalf("decode produce response: %v", err)
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		r.t.Fatalf("produce response shape: %+v", resp)
	}
	return resp.Topics[0].Partitions[0]
}

// produceRaw sends one batch to one partition and returns the partition's response.
func (r *rawConn) produceRaw(topic string, partition int32, batch []byte, acks int16) kmsg.ProduceResponseTopicPartition {
	r.t.Helper()
	resp := r.roundTrip(produceRequest(topic, partition, batch, acks, 10000)).(*kmsg.ProduceResponse)
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		r.t.Fatalf("produce response shape: %+v", resp)
	}
	return resp.Topics[0].Partitions[0]
}

func topicPartition(topic string, p int32) metadata.TopicPartition {
	return metadata.TopicPartition{Topic: topic, Partition: p}
}

// fetchRequest is a Fetch v12 of one partition from offset: maxBytes for the response,
// partMax for the partition, no wait.
func fetchRequest(topic string, partition int32, offset int64, maxBytes, partMax int32) *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.SetVersion(12)
	req.MaxBytes = maxBytes
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch = partition, offset, partMax, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

package kafka

import (
	"bytes"
	"encoding/binary"
	"net"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// FuzzRequest feeds arbitrary bytes, as a socket would deliver them, into a connection of a real
// server (hot log, metadata store, broker). The connection must answer or close — never panic
// (a handler panic is recovered, but is reported here as a failure) and never allocate a frame
// above MaxRequestBytes.
func FuzzRequest(f *testing.F) {
	n := startNode(f, nodeOpts{memStore: true, serverCfg: func(c *Config) { c.MaxRequestBytes = 64 << 10 }})
	n.createTopic(f, "fz", 2, nil)

	frame := func(req kmsg.Request, corr int32) []byte {
		var rf kmsg.RequestFormatter
		return rf.AppendRequest(nil, req, corr)
	}
	seed := func(reqs ...kmsg.Request) {
		var b []byte
		for i, r := range reqs {
			b = append(b, frame(r, int32(i))...)
		}
		f.Add(b)
	}
	av := kmsg.NewPtrApiVersionsRequest()
	av.SetVersion(3)
	md := kmsg.NewPtrMetadataRequest()
	md.SetVersion(12)
	pr := kmsg.NewPtrProduceRequest()
	pr.SetVersion(9)
	pr.Acks = 1
	prt := kmsg.NewProduceRequestTopic()
	prt.Topic = "fz"
	prp := kmsg.NewProduceRequestTopicPartition()
	prp.Records = recordBatch(2, -1, -1, -1)
	prt.Partitions = append(prt.Partitions, prp)
	pr.Topics = append(pr.Topics, prt)
	fr := kmsg.NewPtrFetchRequest()
	fr.SetVersion(12)
	frt := kmsg.NewFetchRequestTopic()
	frt.Topic = "fz"
	frp := kmsg.NewFetchRequestTopicPartition()
	frp.PartitionMaxBytes = 1 << 16
	frt.Partitions = append(frt.Partitions, frp)
	fr.Topics = append(fr.Topics, frt)
	lo := kmsg.NewPtrListOffsetsRequest()
	lo.SetVersion(7)
	ct := kmsg.NewPtrCreateTopicsRequest()
	ct.SetVersion(7)
	ctt := kmsg.NewCreateTopicsRequestTopic()
	ctt.Topic, ctt.NumPartitions, ctt.ReplicationFactor = "fz-new", 1, 1
	ct.Topics = append(ct.Topics, ctt)
	dc := kmsg.NewPtrDescribeConfigsRequest()
	dc.SetVersion(4)
	dcr := kmsg.NewDescribeConfigsRequestResource()
	dcr.ResourceType, dcr.ResourceName = kmsg.ConfigResourceTypeTopic, "fz"
	dc.Resources = append(dc.Resources, dcr)
	seed(av)
	seed(md, av)
	seed(pr)
	seed(fr)
	seed(lo, dc)
	seed(ct)
	f.Add([]byte{0, 0, 0, 10, 0, 18, 0, 99, 0, 0, 0, 1, 0xff, 0xff})
	f.Add(binary.BigEndian.AppendUint32(nil, 1<<30))
	f.Add([]byte{})

	f.Fuzz(func(t *testing.T, in []byte) {
		nc := &bytesConn{r: bytes.NewReader(in)}
		cc := newClientConn(n.srv, nc)
		cc.serve() // returns once every request read has been answered or dropped
		if p := testutil.ToFloat64(n.srv.m.panics); p != 0 {
			t.Fatalf("%v handler panics", p)
		}
	})
}

// bytesConn is a net.Conn whose peer sent exactly r's bytes and then closed its side.
type bytesConn struct {
	r   *bytes.Reader
	out int
}

func (c *bytesConn) Read(b []byte) (int, error)       { return c.r.Read(b) }
func (c *bytesConn) Write(b []byte) (int, error)      { c.out += len(b); return len(b), nil }
func (c *bytesConn) Close() error                     { return nil }
func (c *bytesConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c *bytesConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (c *bytesConn) SetDeadline(time.Time) error      { return nil }
func (c *bytesConn) SetReadDeadline(time.Time) error  { return nil }
func (c *bytesConn) SetWriteDeadline(time.Time) error { return nil }

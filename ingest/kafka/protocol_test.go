package kafka

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestApiVersionsAdvertisesExactlyRegistered(t *testing.T) {
	n := startNode(t, nodeOpts{})
	r := n.raw(t)
	for _, v := range []int16{0, 1, 2, 3, 4} {
		req := kmsg.NewPtrApiVersionsRequest()
		req.SetVersion(v)
		req.ClientSoftwareName, req.ClientSoftwareVersion = "test", "1"
		resp := r.roundTrip(req).(*kmsg.ApiVersionsResponse)
		if resp.ErrorCode != 0 {
			t.Fatalf("v%d: error %d", v, resp.ErrorCode)
		}
		if len(resp.ApiKeys) != len(apis) {
			t.Fatalf("v%d: %d keys advertised, %d registered", v, len(resp.ApiKeys), len(apis))
		}
		for _, k := range resp.ApiKeys {
			a, ok := apis[k.ApiKey]
			if a.tv2From > 0 {
				a.maxVersion = a.tv2From - 1 // no transaction coordinator: transaction.version 0
			}
			if !ok || a.minVersion != k.MinVersion || a.maxVersion != k.MaxVersion {
				t.Fatalf("v%d: advertised %+v, registered %+v", v, k, a)
			}
		}
		for _, k := range []int16{17, 24, 25, 26, 28, 36} {
			if _, ok := apis[k]; ok {
				t.Fatalf("%s must not be advertised", kmsg.NameForKey(k))
			}
		}
	}
}

// A version above the broker's maximum gets a v0 answer with UNSUPPORTED_VERSION and the version
// list, whatever the body holds (KIP-511).
func TestApiVersionsUnsupportedVersionAnswersV0(t *testing.T) {
	n := startNode(t, nodeOpts{})
	r := n.raw(t)
	// key 18, version 99, corr 7, client id "x", then bytes no version of the body can parse.
	frame := []byte{0, 18, 0, 99, 0, 0, 0, 7, 0, 1, 'x', 0xff, 0xfe, 0xfd}
	r.writeRaw(append(binary.BigEndian.AppendUint32(nil, uint32(len(frame))), frame...))
	corr, body, err := r.readFrame()
	if err != nil {
		t.Fatal(err)
	}
	if corr != 7 {
		t.Fatalf("correlation id %d", corr)
	}
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.SetVersion(0)
	if err := resp.ReadFrom(body); err != nil {
		t.Fatalf("not a v0 ApiVersions response with header v0: %v", err)
	}
	if resp.ErrorCode != kerr.UnsupportedVersion.Code || len(resp.ApiKeys) != len(apis) {
		t.Fatalf("error %d with %d keys", resp.ErrorCode, len(resp.ApiKeys))
	}
}

func TestUnadvertisedAPIs(t *testing.T) {
	n := startNode(t, nodeOpts{})
	r := n.raw(t)

	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.SetVersion(1)
	hs.Mechanism = "PLAIN"
	if got := r.roundTrip(hs).(*kmsg.SASLHandshakeResponse); got.ErrorCode != kerr.UnsupportedSaslMechanism.Code || len(got.SupportedMechanisms) != 0 {
		t.Fatalf("SaslHandshake: %+v", got)
	}
	auth := kmsg.NewPtrSASLAuthenticateRequest()
	auth.SetVersion(2)
	if got := r.roundTrip(auth).(*kmsg.SASLAuthenticateResponse); got.ErrorCode != kerr.IllegalSaslState.Code {
		t.Fatalf("SaslAuthenticate: %+v", got)
	}
	end := kmsg.NewPtrEndTxnRequest()
	end.SetVersion(3)
	end.TransactionalID = "tx"
	if got := r.roundTrip(end).(*kmsg.EndTxnResponse); got.ErrorCode != kerr.UnsupportedVersion.Code {
		t.Fatalf("EndTxn: %+v", got)
	}
	// The connection is still usable.
	av := kmsg.NewPtrApiVersionsRequest()
	av.SetVersion(3)
	if got := r.roundTrip(av).(*kmsg.ApiVersionsResponse); got.ErrorCode != 0 {
		t.Fatalf("ApiVersions after unsupported APIs: %d", got.ErrorCode)
	}
	// A version of a served API below its minimum, with no top-level error code, closes.
	pr := kmsg.NewPtrProduceRequest()
	pr.SetVersion(2)
	pr.Acks = 1
	r.send(pr)
	r.expectClosed()
}

func TestBadFramesCloseOnlyThatConnection(t *testing.T) {
	n := startNode(t, nodeOpts{serverCfg: func(c *Config) { c.MaxRequestBytes = 1 << 20 }})
	cases := []struct {
		name  string
		bytes []byte
	}{
		{"oversized frame", binary.BigEndian.AppendUint32(nil, 1<<20+1)},
		{"negative size", []byte{0xff, 0xff, 0xff, 0xf0}},
		{"size below header", []byte{0, 0, 0, 3, 0, 18, 0}},
		{"unknown api key", append([]byte{0, 0, 0, 10}, 0x7f, 0x00, 0, 0, 0, 0, 0, 1, 0, 0)},
		{"client id longer than frame", append([]byte{0, 0, 0, 10}, 0, 18, 0, 0, 0, 0, 0, 1, 0, 50)},
		{"metadata body garbage", append([]byte{0, 0, 0, 14}, 0, 3, 0, 1, 0, 0, 0, 1, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := n.raw(t)
			r.writeRaw(tc.bytes)
			r.expectClosed()
		})
	}
	// Another connection is unaffected.
	av := kmsg.NewPtrApiVersionsRequest()
	if got := n.raw(t).roundTrip(av).(*kmsg.ApiVersionsResponse); got.ErrorCode != 0 {
		t.Fatal(got.ErrorCode)
	}
}

// Pipelined requests: a long-polling Fetch first, then quick requests. The quick ones are handled
// while the Fetch waits, but every response leaves in request order.
func TestPipelinedResponsesInRequestOrder(t *testing.T) {
	n := startNode(t, nodeOpts{})
	n.createTopic(t, "pipe", 1, nil)
	r := n.raw(t)

	fetch := kmsg.NewPtrFetchRequest()
	fetch.SetVersion(11)
	fetch.MaxWaitMillis, fetch.MinBytes, fetch.MaxBytes = 3_600_000, 1, 1<<20
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = "pipe"
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.FetchOffset, fp.PartitionMaxBytes, fp.CurrentLeaderEpoch = 0, 1<<20, -1
	ft.Partitions = append(ft.Partitions, fp)
	fetch.Topics = append(fetch.Topics, ft)

	var sent []int32
	sent = append(sent, r.send(fetch))
	for i := 0; i < 5; i++ {
		md := kmsg.NewPtrMetadataRequest()
		md.SetVersion(9)
		sent = append(sent, r.send(md))
	}
	// Only an append can complete the fetch (it waits an hour otherwise); the produce goes over a
	// second connection.
	if pr := n.raw(t).produceRaw("pipe", 0, recordBatch(3, -1, -1, -1), 1); pr.ErrorCode != 0 {
		t.Fatalf("produce: %v", kerr.ErrorForCode(pr.ErrorCode))
	}
	for i, want := range sent {
		got, body, err := r.readFrame()
		if err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Fatalf("response %d has correlation id %d, want %d", i, got, want)
		}
		if i == 0 {
			resp := fetch.ResponseKind()
			if fetch.IsFlexible() {
				body = body[1:]
			}
			if err := resp.ReadFrom(body); err != nil {
				t.Fatal(err)
			}
			fr := resp.(*kmsg.FetchResponse)
			if len(fr.Topics[0].Partitions[0].RecordBatches) == 0 {
				t.Fatal("long poll woke without data")
			}
		}
	}
}

func TestServerCloseIsIdempotentAndEndsLongPolls(t *testing.T) {
	n := startNode(t, nodeOpts{})
	n.createTopic(t, "closing", 1, nil)
	r := n.raw(t)
	fetch := kmsg.NewPtrFetchRequest()
	fetch.SetVersion(11)
	fetch.MaxWaitMillis, fetch.MinBytes, fetch.MaxBytes = 3_600_000, 1, 1<<20
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = "closing"
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.PartitionMaxBytes, fp.CurrentLeaderEpoch = 1<<20, -1
	ft.Partitions = append(ft.Partitions, fp)
	fetch.Topics = append(fetch.Topics, ft)
	corr := r.send(fetch)
	// Wait until the server has read the fetch (it is counted before it is handled).
	for testutil.ToFloat64(n.srv.m.requests.WithLabelValues("Fetch")) < 1 {
		time.Sleep(time.Millisecond)
	}
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		n.srv.Close()
	}()
	// The long poll ends early with an empty answer, which is still sent before the close.
	got, _, err := r.readFrame()
	if err != nil || got != corr {
		t.Fatalf("fetch in flight at close: corr %d err %v", got, err)
	}
	r.expectClosed()
	<-closed
	n.srv.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := n.srv.Serve(context.Background(), ln); !errors.Is(err, ErrClosed) {
		t.Fatalf("Serve after Close: %v", err)
	}
}

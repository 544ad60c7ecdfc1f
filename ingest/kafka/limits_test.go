package kafka

import (
	"context"
	"encoding/binary"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// announce writes a frame header that promises size bytes of an ApiVersions request and sends
// only the request header's first bytes.
func (r *rawConn) announce(size uint32) {
	r.t.Helper()
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], size)
	r.writeRaw(append(b[:], 0, 18, 0, 3)) // key 18 (ApiVersions), version 3, then nothing
}

// Fifty connections that announce 100 MiB frames and stall hold none of the request budget (its
// bytes are reserved as they arrive), so a well-behaved client is served while they wait, long
// before the server's read deadline would free them. Before, the sixth such connection locked
// the port until IOTimeout, and reconnecting kept it locked.
func TestStalledLargeFramesDoNotLockOut(t *testing.T) {
	n := startNode(t, nodeOpts{serverCfg: func(c *Config) { c.IOTimeout = 2 * time.Minute }})
	var stalled []*rawConn
	for range 50 {
		r := n.raw(t)
		r.announce(100 << 20)
		stalled = append(stalled, r)
	}
	time.Sleep(100 * time.Millisecond) // let the server read every announcement

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	began := time.Now()
	n.createTopic(t, "unlocked", 1, nil)
	cl := n.client(t, kgo.DefaultProduceTopic("unlocked"))
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("through")}).FirstErr(); err != nil {
		t.Fatalf("produce beside 50 stalled 100 MiB frames: %v", err)
	}
	took := time.Since(began)
	t.Logf("create topic + produce beside 50 stalled 100 MiB frames took %v", took)
	if took >= time.Minute {
		t.Fatalf("served after %v: it waited for the stalled connections' deadline", took)
	}
	n.srv.budget.mu.Lock()
	used := n.srv.budget.used
	n.srv.budget.mu.Unlock()
	if used > 50*frameChunk {
		t.Fatalf("%d bytes of the budget held by connections that sent 4 bytes each", used)
	}
	for _, r := range stalled { // still open: nothing closed them to let the client in
		r.c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		if _, _, err := r.readFrame(); err == nil {
			t.Fatal("a stalled connection got an answer to a frame it never finished")
		} else if ne, ok := err.(interface{ Timeout() bool }); !ok || !ne.Timeout() {
			t.Fatalf("a stalled connection was closed (%v); the client got in without that", err)
		}
	}
}

// With SASL on, a connection may announce only a small frame before it has authenticated.
func TestUnauthenticatedFrameLimit(t *testing.T) {
	n := startNode(t, nodeOpts{serverCfg: func(c *Config) { c.SASL, c.MaxUnauthenticatedBytes = testCredentials(t), 4<<10 }})
	big := n.raw(t)
	big.announce(8 << 10)
	big.expectClosed()
	small := n.raw(t)
	if resp := small.roundTrip(kmsg.NewPtrApiVersionsRequest()).(*kmsg.ApiVersionsResponse); resp.ErrorCode != 0 {
		t.Fatalf("ApiVersions before authentication: error %d", resp.ErrorCode)
	}
}

// Connections over the per-IP or the total limit are closed on arrival and counted; the ones
// within it are served, and a slot frees when a connection ends.
func TestConnectionLimits(t *testing.T) {
	for _, tc := range []struct {
		limit string
		cfg   func(*Config)
	}{
		{"per_ip", func(c *Config) { c.MaxConnectionsPerIP = 3 }},
		{"total", func(c *Config) { c.MaxConnections = 3 }},
	} {
		t.Run(tc.limit, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			n := startNode(t, nodeOpts{memStore: true, serverCfg: func(c *Config) { tc.cfg(c); c.Registerer = reg }})
			var open []*rawConn
			for range 3 {
				r := n.raw(t)
				r.roundTrip(kmsg.NewPtrApiVersionsRequest())
				open = append(open, r)
			}
			over := n.raw(t)
			over.send(kmsg.NewPtrApiVersionsRequest())
			over.expectClosed()
			if got := testutil.ToFloat64(n.srv.m.rejected.WithLabelValues(tc.limit)); got != 1 {
				t.Fatalf("strata_kafka_connections_rejected_total{limit=%q} = %v, want 1", tc.limit, got)
			}
			open[0].c.Close()
			deadline := time.Now().Add(10 * time.Second)
			for {
				r := n.raw(t)
				r.send(kmsg.NewPtrApiVersionsRequest())
				if _, _, err := r.readFrame(); err == nil {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("no connection admitted after one of the three closed")
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}

// The reproduction as a bound: fifty connections announce large frames, send a few bytes
// of them and stall, and a new franz-go client's first answer (connect, ApiVersions, SASL when on,
// Metadata) comes within a second of what it takes beside no stalled connection. The stalled
// connections hold no more of the request budget than the bytes they sent, and no buffer for the
// frame they announced. With SASL, a frame over the pre-authentication limit closes its
// connection at once; one within it stalls like the others.
func TestStalledFramesDelayNoClient(t *testing.T) {
	for _, tc := range []struct {
		name     string
		sasl     bool
		announce uint32
	}{
		{"plaintext-100MiB", false, 100 << 20},
		{"sasl-100MiB", true, 100 << 20},
		{"sasl-at-preauth-limit", true, 512 << 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var opts []kgo.Opt
			n := startNode(t, nodeOpts{memStore: true, serverCfg: func(c *Config) {
				c.IOTimeout = 2 * time.Minute
				if tc.sasl {
					c.SASL = testCredentials(t)
				}
			}})
			if tc.sasl {
				opts = append(opts, kgo.SASL(mechanism(mechSCRAM256, "alice", "wonder land")))
			}
			firstAnswer := func() time.Duration {
				t.Helper()
				cl := n.client(t, opts...)
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				began := time.Now()
				if _, err := cl.Request(ctx, kmsg.NewPtrMetadataRequest()); err != nil {
					t.Fatalf("Metadata: %v", err)
				}
				return time.Since(began)
			}
			base := firstAnswer()

			for range 50 {
				n.raw(t).announce(tc.announce)
			}
			time.Sleep(200 * time.Millisecond) // let the server read every announcement
			beside := firstAnswer()
			t.Logf("first Metadata answer: %v alone, %v beside 50 stalled %d-byte frames", base, beside, tc.announce)
			if beside > base+time.Second {
				t.Fatalf("a client waited %v beside stalled connections (%v alone)", beside, base)
			}
			n.srv.budget.mu.Lock()
			used := n.srv.budget.used
			n.srv.budget.mu.Unlock()
			// Each stalled connection sent 4 bytes of its frame (announce).
			if used > 50*4 {
				t.Fatalf("%d bytes of the request budget held by 50 connections that sent 4 bytes of a frame each", used)
			}
		})
	}
}

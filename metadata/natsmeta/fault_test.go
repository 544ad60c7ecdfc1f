package natsmeta_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/metadata/natsmeta"
)

// holdProxy forwards TCP to a NATS server and can hold back everything the server sends, so a
// request reaches the server and takes effect while its answer is late: the client times out not
// knowing whether its write happened.
type holdProxy struct {
	ln      net.Listener
	target  string
	held    atomic.Bool
	release chan struct{}
	wg      sync.WaitGroup
	mu      sync.Mutex
	conns   []net.Conn
}

func newHoldProxy(t *testing.T, target string) *holdProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &holdProxy{ln: ln, target: target, release: make(chan struct{}, 1)}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.close)
	return p
}

func (p *holdProxy) url() string { return "nats://" + p.ln.Addr().String() }

func (p *holdProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		s, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, s)
		p.mu.Unlock()
		p.wg.Add(2)
		go func() { defer p.wg.Done(); _, _ = io.Copy(s, c); _ = s.Close() }()
		go func() { defer p.wg.Done(); p.downstream(s, c); _ = c.Close() }()
	}
}

// downstream copies server bytes to the client, parking them while the proxy holds.
func (p *holdProxy) downstream(from, to net.Conn) {
	chunks := make(chan []byte)
	go func() { // ends when from is closed
		defer close(chunks)
		for {
			buf := make([]byte, 32<<10)
			n, err := from.Read(buf)
			if n > 0 {
				chunks <- buf[:n]
			}
			if err != nil {
				return
			}
		}
	}()
	var pending []byte
	for {
		select {
		case c, ok := <-chunks:
			if !ok {
				return
			}
			if p.held.Load() {
				pending = append(pending, c...)
				continue
			}
			if _, err := to.Write(append(pending, c...)); err != nil {
				return
			}
			pending = nil
		case <-p.release:
			if _, err := to.Write(pending); err != nil {
				return
			}
			pending = nil
		}
	}
}

func (p *holdProxy) hold() { p.held.Store(true) }

func (p *holdProxy) unhold() {
	p.held.Store(false)
	select {
	case p.release <- struct{}{}:
	default:
	}
}

func (p *holdProxy) close() {
	_ = p.ln.Close()
	p.mu.Lock()
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// TestWriteRetriedAfterTimeoutAppliesOnce moves a log start while the server's answers are held
// past the call timeout. The write lands on the first send; the resend carries the same message id,
// so the server answers it as a duplicate instead of applying it again, and the caller still gets
// the segments its write dropped (a second application would drop nothing and lose them).
func TestWriteRetriedAfterTimeoutAppliesOnce(t *testing.T) {
	t.Run("R1", func(t *testing.T) {
		testWriteRetriedAfterTimeout(t, startEmbedded(t).Server().Addr().String(), 1)
	})
	t.Run("R3", func(t *testing.T) {
		if testing.Short() {
			t.Skip("3-node cluster in -short mode")
		}
		testWriteRetriedAfterTimeout(t, startCluster(t, 3).Nodes[0].Server().Addr().String(), 3)
	})
}

func testWriteRetriedAfterTimeout(t *testing.T, addr string, replicas int) {
	proxy := newHoldProxy(t, addr)
	reg := prometheus.NewRegistry()
	ctx := context.Background()
	s, err := natsmeta.Open(ctx, natsmeta.Config{
		URLs: []string{proxy.url()}, Replicas: replicas, OpTimeout: 300 * time.Millisecond, BucketPrefix: "fault",
		Logger: slog.New(slog.DiscardHandler), Registerer: reg,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.CreateTopic(ctx, metadata.Topic{Name: "held", Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	tp := metadata.TopicPartition{Topic: "held", Partition: 0}
	l, err := s.AcquireLease(ctx, tp, 1)
	if err != nil {
		t.Fatal(err)
	}
	for i := int64(0); i < 3; i++ {
		if err := s.RegisterSegment(ctx, tp, l.Epoch, metadata.SegmentRef{Key: fmt.Sprint(i), BaseOffset: i * 10, NextOffset: i*10 + 10}); err != nil {
			t.Fatal(err)
		}
	}

	proxy.hold()
	done := make(chan struct{})
	var dropped []metadata.SegmentRef
	go func() {
		defer close(done)
		dropped, err = s.SetLogStartOffset(ctx, tp, l.Epoch, 20)
	}()
	// Hold the answers until the store has given up on at least one send.
	for counter(t, reg, "strata_metadata_call_retries_total", "put") < 1 {
		select {
		case <-done:
			t.Fatalf("SetLogStartOffset finished while answers were held: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	proxy.unhold()
	<-done
	if err != nil {
		t.Fatalf("SetLogStartOffset: %v", err)
	}
	if len(dropped) != 2 || dropped[0].Key != "0" || dropped[1].Key != "1" {
		t.Fatalf("dropped %+v, want segments 0 and 1", dropped)
	}
	c, err := s.GetCatalog(ctx, tp)
	if err != nil || c.LogStartOffset != 20 || len(c.Segments) != 1 {
		t.Fatalf("catalog after held write: %+v, %v", c, err)
	}
}

// counter reads one labelled counter from reg; 0 when it has not been touched.
func counter(t *testing.T, reg *prometheus.Registry, name, label string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetValue() == label {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// TestCatalogOverPayloadLimit fills a catalog on a server with a small payload limit: the write
// that would not fit fails with ErrTooLarge and leaves the catalog as it was.
func TestCatalogOverPayloadLimit(t *testing.T) {
	e, err := natsmeta.StartEmbedded(natsmeta.EmbeddedConfig{Dir: t.TempDir(), MaxPayload: 8 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Shutdown()
	s := openStore(t, []string{e.ClientURL()}, 1)
	ctx := context.Background()
	if _, err := s.CreateTopic(ctx, metadata.Topic{Name: "full", Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	tp := metadata.TopicPartition{Topic: "full", Partition: 0}
	var i int64
	for ; i < 10_000; i++ {
		err = s.RegisterSegment(ctx, tp, 1, metadata.SegmentRef{Key: fmt.Sprintf("k-%d", i), BaseOffset: i, NextOffset: i + 1, Size: 1 << 30})
		if err != nil {
			break
		}
	}
	if !errors.Is(err, natsmeta.ErrTooLarge) {
		t.Fatalf("after %d segments: err = %v, want ErrTooLarge", i, err)
	}
	c, err := s.GetCatalog(ctx, tp)
	if err != nil || int64(len(c.Segments)) != i {
		t.Fatalf("catalog has %d segments (err %v), want %d", len(c.Segments), err, i)
	}
}

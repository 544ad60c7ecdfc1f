package kafka

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/bits"
	"net"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-log/strata/metadata"
)

// Errors that close a connection. They are logged, never sent.
var (
	errFrameTooLarge = errors.New("kafka: request frame too large")
	errBadFrame      = errors.New("kafka: malformed request frame")
	errUnknownAPI    = errors.New("kafka: unknown api key or version")
	errPanic         = errors.New("kafka: handler panicked")
)

// minHeaderBytes is key(2) + version(2) + correlation id(4) + client id length(2).
const minHeaderBytes = 10

// clientConn is one client connection: a reader (serve), one goroutine per request, and a writer
// that sends responses in request order.
type clientConn struct {
	s      *Server
	nc     net.Conn
	log    *slog.Logger
	ctx    context.Context // ends when the connection or the server is closing
	cancel context.CancelFunc

	queue chan *pending // in request order; capacity bounds in-flight requests

	// lastProduce is closed when the previous Produce on this connection finished appending.
	// Only the reader goroutine touches the field.
	lastProduce chan struct{}

	shutOnce sync.Once
	stopping atomic.Bool // set by shutdown before it interrupts the reader

	waits produceWaits

	// auth is the connection's SASL state; nil when SASL is off (every request admitted).
	auth *authState

	fetchSessions fetchSessions // the connection's incremental fetch session (fetch_session.go)

	// sendfile: the connection is a plain socket, so Fetch responses may carry record sets left in
	// the hot log's files (written by sendfile); not under TLS, whose bytes must pass through here.
	sendfile bool
}

// header is a decoded request header.
type header struct {
	key      int16
	version  int16
	corrID   int32
	clientID *string
}

// pending is one request on its way to a response.
type pending struct {
	hdr      header
	body     []byte // request body after the header
	flexResp bool   // response header v1 (flexible request other than ApiVersions)
	api      api
	known    bool // api is registered and the version is in range
	received time.Time
	gate     *produceGate
	held     int64  // bytes reserved in the server's budget until handled
	frame    []byte // a Produce frame, returned to the server's frame pool once handled

	done chan struct{} // closed when resp/out/err are set
	out  []piece       // encoded response frame, written in order; nil: no response (acks=0)
	err  error         // close the connection instead of answering

	// files are the record sets a Fetch response leaves in files (file pieces of out), set by the
	// handler when the connection takes sendfile.
	files []fileRecords

	// release hands back buffers the frame points into (pooled fetch reads), after it is written.
	release []func()
}

func newClientConn(s *Server, nc net.Conn) *clientConn {
	ctx, cancel := context.WithCancel(s.ctx)
	closed := make(chan struct{})
	close(closed)
	_, raw := nc.(syscall.Conn)
	return &clientConn{
		s:           s,
		nc:          nc,
		sendfile:    raw,
		log:         s.log.With("remote", nc.RemoteAddr().String()),
		ctx:         ctx,
		cancel:      cancel,
		queue:       make(chan *pending, s.cfg.MaxInflight),
		lastProduce: closed,
		auth:        newAuthState(s),
	}
}

// shutdown stops reading; requests already read are answered, then the connection closes.
func (cc *clientConn) shutdown() {
	cc.shutOnce.Do(func() {
		cc.stopping.Store(true)
		_ = cc.nc.SetReadDeadline(time.Unix(1, 0))
	})
}

// serve runs the connection until the peer leaves, sends garbage, or the server closes. It returns
// after every goroutine it started has exited.
func (cc *clientConn) serve() {
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		cc.writeLoop()
	}()
	err := cc.readLoop()
	// The peer is gone or misbehaved, or the server is closing: end long polls and waits at once;
	// requests already read are still answered (if the socket still takes writes).
	cc.cancel()
	close(cc.queue)
	<-writerDone
	cc.cancel()
	cc.nc.Close()
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) && !isTimeout(err) {
		cc.log.Info("kafka: closing connection", "err", err)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// readLoop reads frames until an error and hands each to its own goroutine.
func (cc *clientConn) readLoop() error {
	br := bufio.NewReaderSize(cc.nc, 64<<10)
	var sizeBuf [4]byte
	for {
		if cc.ctx.Err() != nil {
			return nil
		}
		if cc.auth.rawNext() { // after SaslHandshake v0: unframed SASL tokens (saslconn.go)
			if err := cc.readRawToken(br); err != nil {
				return err
			}
			continue
		}
		// An idle connection closes after IdleTimeout (Kafka's connections.max.idle.ms). The
		// deadline is set before the stopping check so that a shutdown racing with it still wins.
		if br.Buffered() == 0 {
			_ = cc.nc.SetReadDeadline(time.Now().Add(cc.s.cfg.IdleTimeout))
			if cc.stopping.Load() {
				return nil
			}
		}
		if _, err := io.ReadFull(br, sizeBuf[:]); err != nil {
			return err
		}
		size := int32(binary.BigEndian.Uint32(sizeBuf[:]))
		if size < minHeaderBytes {
			return fmt.Errorf("%w: size %d", errBadFrame, size)
		}
		if size > cc.s.cfg.MaxRequestBytes {
			return fmt.Errorf("%w: %d > %d bytes", errFrameTooLarge, size, cc.s.cfg.MaxRequestBytes)
		}
		if cc.auth.pending() && size > cc.s.cfg.MaxUnauthenticatedBytes {
			return fmt.Errorf("%w: %d > %d bytes before authentication", errFrameTooLarge, size, cc.s.cfg.MaxUnauthenticatedBytes)
		}
		// A peer that announces a frame must deliver it within IOTimeout: a slow sender cannot
		// hold its share of the request budget for ever.
		_ = cc.nc.SetReadDeadline(time.Now().Add(cc.s.cfg.IOTimeout))
		if cc.stopping.Load() {
			return nil
		}
		frame, held, err := cc.readFrame(br, int(size))
		if err != nil || frame == nil {
			return err
		}
		p, err := cc.decodeFrame(frame)
		if err != nil {
			cc.s.budget.release(held)
			return err
		}
		p.held = held
		if p.hdr.key == kmsg.Produce.Int16() {
			p.frame = frame // handed back to the pool once handled
		}
		select {
		case cc.queue <- p:
		case <-cc.ctx.Done():
			cc.s.budget.release(p.held)
			return nil
		}
		go cc.handle(p)
		// Before authentication requests are answered one at a time, so that each sees the state
		// the previous one left; a failed authentication closes once its answer is written.
		if cc.auth.pending() {
			<-p.done
			if err := cc.auth.err(); err != nil {
				return err
			}
		}
	}
}

// frameChunk is the most of a frame that is reserved from the request budget, and read, at a time.
const frameChunk = 256 << 10

// readFrame reads a frame of size bytes, reserving its memory in the server's request budget as
// its bytes arrive rather than when its size is announced. Each step reserves what the peer has
// sent and is buffered, or, once the peer has sent part of the frame, up to as much again as it has
// sent (at most frameChunk): those bytes are read straight from the connection into the frame, a
// few large reads instead of one copy out of the read buffer per 64 KiB it holds. A connection
// that announces a large frame and stalls thus holds at most twice the bytes it sent, and no
// buffer for the rest. The frame's buffer comes from the server's frame pool when one fits, else
// grows with the data. It returns the frame and the bytes it holds in the budget (released by the
// caller once the request is handled); a nil frame with a nil error means the connection is
// closing.
func (cc *clientConn) readFrame(br *bufio.Reader, size int) (frame []byte, held int64, err error) {
	frame = cc.s.frames.get(size)
	for len(frame) < size {
		if _, err := br.Peek(1); err != nil {
			cc.s.budget.release(held)
			return nil, 0, err
		}
		n := min(size-len(frame), frameChunk, max(br.Buffered(), len(frame)))
		if err := cc.s.budget.acquire(cc.ctx, int64(n)); err != nil {
			cc.s.budget.release(held)
			return nil, 0, nil
		}
		held += int64(n)
		frame = growFrame(frame, n, size)
		if _, err := io.ReadFull(br, frame[len(frame):len(frame)+n]); err != nil {
			cc.s.budget.release(held)
			return nil, 0, err
		}
		frame = frame[:len(frame)+n]
	}
	return frame, held, nil
}

// growFrame returns frame with room for n more bytes. Capacities are powers of two (at most the
// one that holds size), so that the buffer doubles rather than creeping up by a quarter (copying
// what it holds each time) and lands in the frame pool's class for frames of its size.
func growFrame(frame []byte, n, size int) []byte {
	if len(frame)+n <= cap(frame) {
		return frame
	}
	c := min(1<<bits.Len(uint(len(frame)+n-1)), 1<<bits.Len(uint(size-1)))
	grown := make([]byte, len(frame), c)
	copy(grown, frame)
	return grown
}

// decodeFrame parses the request header and decides how the request will be answered. An error
// means the frame cannot be answered at all and the connection must close.
func (cc *clientConn) decodeFrame(frame []byte) (*pending, error) {
	hdr, rest, ok := parseHeaderPrefix(frame)
	if !ok {
		return nil, errBadFrame
	}
	p := &pending{hdr: hdr, received: time.Now(), done: make(chan struct{})}
	if err := cc.auth.admit(hdr.key); err != nil {
		return nil, err
	}
	a, registered := cc.s.lookupAPI(hdr.key)
	p.api = a
	p.known = registered && hdr.version >= a.minVersion && hdr.version <= a.maxVersion

	if hdr.key == kmsg.ApiVersions.Int16() && !p.known {
		// KIP-511: answer any ApiVersions version, without parsing its body, with a v0 response.
		p.body = nil
		return p, nil
	}
	req := kmsg.RequestForKey(hdr.key)
	if req == nil || hdr.version < 0 || hdr.version > req.MaxVersion() {
		return nil, fmt.Errorf("%w: key %d version %d", errUnknownAPI, hdr.key, hdr.version)
	}
	req.SetVersion(hdr.version)
	if req.IsFlexible() {
		r := &tagReader{src: rest}
		kmsg.SkipTags(r)
		if r.bad {
			return nil, fmt.Errorf("%w: header tags", errBadFrame)
		}
		rest = r.src
		p.flexResp = hdr.key != kmsg.ApiVersions.Int16()
	}
	p.body = rest
	if hdr.key == kmsg.Produce.Int16() {
		prev, mine := cc.lastProduce, make(chan struct{})
		cc.lastProduce = mine
		p.gate = &produceGate{prev: prev, mine: mine}
	}
	return p, nil
}

// parseHeaderPrefix decodes key, version, correlation id and client id.
func parseHeaderPrefix(b []byte) (header, []byte, bool) {
	var h header
	if len(b) < minHeaderBytes {
		return h, nil, false
	}
	h.key = int16(binary.BigEndian.Uint16(b[0:]))
	h.version = int16(binary.BigEndian.Uint16(b[2:]))
	h.corrID = int32(binary.BigEndian.Uint32(b[4:]))
	n := int16(binary.BigEndian.Uint16(b[8:]))
	b = b[10:]
	switch {
	case n == -1:
	case n < -1 || int(n) > len(b):
		return h, nil, false
	default:
		id := string(b[:n])
		h.clientID = &id
		b = b[n:]
	}
	return h, b, true
}

// handle answers one request on its own goroutine and never panics.
func (cc *clientConn) handle(p *pending) {
	defer close(p.done)
	defer cc.s.budget.release(p.held)
	if p.gate != nil {
		defer p.gate.finish()
	}
	defer func() {
		if r := recover(); r != nil {
			cc.log.Error("kafka: handler panic", "api", kmsg.NameForKey(p.hdr.key),
				"version", p.hdr.version, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			cc.s.m.panics.Inc()
			p.out, p.err = nil, errPanic
		}
	}()
	name := apiName(p.hdr.key)
	cc.s.m.requestBytes(name, len(p.body)+minHeaderBytes)

	resp, err := cc.answer(p)
	cc.s.m.observe(name, time.Since(p.received))
	if p.frame != nil { // the records are in the hot log; the response does not point into them
		cc.s.frames.put(p.frame)
		p.frame, p.body = nil, nil
	}
	if err != nil {
		p.err = err
		return
	}
	if resp == nil {
		return
	}
	if p.out, err = encodeFrame(p.hdr.corrID, p.flexResp, resp, p.files); err != nil {
		cc.log.Error("kafka: cannot encode the response", "api", name, "err", err)
		p.out, p.err = nil, err
	}
}

// answer produces the response for p: the registered handler, or an "unsupported" answer.
func (cc *clientConn) answer(p *pending) (kmsg.Response, error) {
	if p.hdr.key == kmsg.ApiVersions.Int16() && !p.known {
		return unsupportedApiVersions(cc.s), nil
	}
	req := kmsg.RequestForKey(p.hdr.key)
	req.SetVersion(p.hdr.version)
	if err := req.ReadFrom(p.body); err != nil {
		return nil, fmt.Errorf("%w: %s v%d body: %v", errBadFrame, kmsg.NameForKey(p.hdr.key), p.hdr.version, err)
	}
	if !p.known {
		return unsupportedAnswer(req)
	}
	ctx := cc.ctx
	if p.hdr.clientID != nil {
		ctx = context.WithValue(ctx, clientIDKey{}, *p.hdr.clientID)
	}
	if p.gate != nil {
		ctx = context.WithValue(ctx, produceGateKey{}, p.gate)
	}
	if p.hdr.key == kmsg.Fetch.Int16() {
		ctx = context.WithValue(ctx, releaseKey{}, &p.release)
		if cc.sendfile {
			ctx = context.WithValue(ctx, filesKey{}, &p.files)
		}
	}
	return p.api.handle(ctx, cc.s, cc, req)
}

// clientIDKey carries the request header's client id to handlers that report it.
type clientIDKey struct{}

// requestClientID is the client id of the request being handled ("" when the client sent null).
func requestClientID(ctx context.Context) string {
	id, _ := ctx.Value(clientIDKey{}).(string)
	return id
}

// encodeResponse frames resp with its response header, copying everything into one slice.
func encodeResponse(corrID int32, flexible bool, resp kmsg.Response) []byte {
	out := make([]byte, 8, 256)
	binary.BigEndian.PutUint32(out[4:], uint32(corrID))
	if flexible {
		out = append(out, 0) // empty tagged fields
	}
	out = resp.AppendTo(out)
	binary.BigEndian.PutUint32(out, uint32(len(out)-4))
	return out
}

// writeLoop sends responses in request order. After a write error or a request that must close
// the connection it keeps draining (so handlers finish) but writes nothing more.
func (cc *clientConn) writeLoop() {
	bw := bufio.NewWriterSize(cc.nc, 64<<10)
	failed := false
	for p := range cc.queue {
		<-p.done
		if failed {
			for _, f := range p.release { // never to be written: buffers and files go back
				f()
			}
			p.out, p.files, p.release = nil, nil, nil
			continue
		}
		if p.err != nil {
			cc.log.Info("kafka: closing connection", "api", apiName(p.hdr.key), "version", p.hdr.version, "err", p.err)
			failed = true
		} else if p.out != nil {
			// A peer that stops reading fails the write after IOTimeout instead of pinning the
			// connection (and Server.Close) for ever.
			_ = cc.nc.SetWriteDeadline(time.Now().Add(cc.s.cfg.IOTimeout))
			cc.s.m.responseBytes(apiName(p.hdr.key), frameLen(p.out))
			for _, pc := range p.out {
				if pc.file != nil {
					// From the files, after everything before it: sendfile on the socket itself.
					if err := bw.Flush(); err != nil {
						failed = true
						break
					}
					n, err := pc.file.WriteTo(cc.nc)
					cc.s.m.fileBytes.Add(float64(n))
					if err != nil {
						if !isTimeout(err) && !errors.Is(err, net.ErrClosed) {
							cc.log.Warn("kafka: sending records from the hot log failed", "err", err)
						}
						failed = true
						break
					}
					continue
				}
				// Large slices bypass the buffer (bufio writes them directly once it is empty).
				if _, err := bw.Write(pc.b); err != nil {
					failed = true
					break
				}
			}
			p.out, p.files = nil, nil // let the record buffers go
		}
		for _, f := range p.release { // written (or never to be): the buffers may be reused
			f()
		}
		p.release = nil
		if !failed && len(cc.queue) == 0 {
			if err := bw.Flush(); err != nil {
				failed = true
			}
		}
		if failed {
			cc.cancel()
			cc.nc.Close() // unblocks the reader
		}
	}
	if !failed {
		_ = bw.Flush()
	}
}

// tagReader is the minimal kmsg.TagReader over a byte slice, failing instead of overrunning.
type tagReader struct {
	src []byte
	bad bool
}

func (r *tagReader) Ok() bool { return !r.bad }

func (r *tagReader) Uvarint() uint32 {
	v, n := binary.Uvarint(r.src)
	if n <= 0 || v > 1<<31 {
		r.bad, r.src = true, nil
		return 0
	}
	r.src = r.src[n:]
	return uint32(v)
}

func (r *tagReader) Span(n int) []byte {
	if n < 0 || n > len(r.src) {
		r.bad, r.src = true, nil
		return nil
	}
	s := r.src[:n]
	r.src = r.src[n:]
	return s
}

// produceWaits tracks a connection's Produce requests that wait for durability. When ExpediteAt of
// them wait at once the client's pipeline is full: it can send no more data until the oldest is
// answered, so holding them to a flush deadline would only add latency. Every partition they wait
// on is then expedited (Broker.Expedite; a no-op unless the partition has object durability, and
// rate-bounded by the tier's roll floor).
type produceWaits struct {
	mu      sync.Mutex
	waiting map[*[]metadata.TopicPartition]struct{}
}

// enter records a request waiting on tps and returns the function that ends the wait.
func (w *produceWaits) enter(s *Server, tps []metadata.TopicPartition) (leave func()) {
	key := &tps
	w.mu.Lock()
	if w.waiting == nil {
		w.waiting = make(map[*[]metadata.TopicPartition]struct{})
	}
	w.waiting[key] = struct{}{}
	var expedite []metadata.TopicPartition
	if at := s.cfg.ExpediteAt; at > 0 && len(w.waiting) >= at {
		seen := make(map[metadata.TopicPartition]struct{})
		for k := range w.waiting {
			for _, tp := range *k {
				if _, ok := seen[tp]; !ok {
					seen[tp] = struct{}{}
					expedite = append(expedite, tp)
				}
			}
		}
	}
	w.mu.Unlock()
	for _, tp := range expedite {
		s.broker.Expedite(tp)
	}
	return func() {
		w.mu.Lock()
		delete(w.waiting, key)
		w.mu.Unlock()
	}
}

// produceGate orders the append phase of pipelined Produce requests on one connection.
type produceGate struct {
	prev chan struct{}
	mine chan struct{}
	once sync.Once
}

type produceGateKey struct{}

// waitProduceTurn blocks until earlier Produce requests on the connection have appended.
func waitProduceTurn(ctx context.Context) error {
	g, _ := ctx.Value(produceGateKey{}).(*produceGate)
	if g == nil {
		return nil
	}
	select {
	case <-g.prev:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// finishProduceTurn lets the next Produce on the connection append. Safe to call twice.
func finishProduceTurn(ctx context.Context) {
	if g, _ := ctx.Value(produceGateKey{}).(*produceGate); g != nil {
		g.finish()
	}
}

func (g *produceGate) finish() { g.once.Do(func() { close(g.mine) }) }

// releaseKey carries a request's list of buffer releases (see pending.release) to its handler.
type releaseKey struct{}

// onWritten arranges for f to run once the response to the request of ctx has been written.
// filesKey carries a Fetch's *[]fileRecords when the connection takes sendfile.
type filesKey struct{}

// fileSlot returns where a Fetch handler lists the record sets it leaves in files, or nil when
// the connection cannot send from files.
func fileSlot(ctx context.Context) *[]fileRecords {
	l, _ := ctx.Value(filesKey{}).(*[]fileRecords)
	return l
}

func onWritten(ctx context.Context, f func()) {
	if l, _ := ctx.Value(releaseKey{}).(*[]func()); l != nil && f != nil {
		*l = append(*l, f)
	}
}

// apiName is the metric label for a key; unknown keys share one label.
func apiName(key int16) string {
	if n := kmsg.NameForKey(key); n != "" {
		return n
	}
	return "Unknown"
}

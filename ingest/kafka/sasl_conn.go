package kafka

// A connection's SASL state, when Config.SASL is set.
//
// Until it has authenticated, a connection may send only ApiVersions, SaslHandshake and
// SaslAuthenticate; any other request closes it, as Apache Kafka does. These requests are answered
// one at a time (the reader waits for each answer before reading on), so the state below changes
// only between requests. A failed authentication, an unknown mechanism or a request out of order
// is answered with its error code and then the connection closes.
//
// SaslHandshake v0 (KIP-43's original flow) is followed by bare SASL tokens instead of
// SaslAuthenticate requests:
//
//	client → ┌──────────────┬───────────────┐   server → ┌──────────────┬───────────────┐
//	         │ size int32   │ token bytes   │            │ size int32   │ token bytes   │
//	         └──────────────┴───────────────┘            └──────────────┴───────────────┘
//
// A failed exchange in that mode closes the connection without an answer (the framing has no
// room for an error). No re-authentication (KIP-368): SessionLifetimeMillis is always 0.

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var (
	errUnauthenticated = errors.New("kafka: request before SASL authentication")
	errSASLFailed      = errors.New("kafka: SASL authentication failed")
)

// maxSASLToken bounds one unframed token after SaslHandshake v0.
const maxSASLToken = 64 << 10

type authState struct {
	creds *Credentials
	sec   *securityMetrics

	mu       sync.Mutex
	mech     string
	session  saslSession // set by a successful handshake
	raw      bool        // handshake v0: tokens come unframed
	done     bool
	fail     error
	username string
}

func newAuthState(s *Server) *authState {
	if s.cfg.SASL == nil {
		return nil
	}
	return &authState{creds: s.cfg.SASL, sec: s.sec}
}

// admit says whether a request with key may be read now. A nil state admits everything.
func (a *authState) admit(key int16) error {
	if a == nil {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.done || key == kmsg.ApiVersions.Int16() || key == kmsg.SASLHandshake.Int16() || key == kmsg.SASLAuthenticate.Int16() {
		return nil
	}
	return fmt.Errorf("%w: %s", errUnauthenticated, apiName(key))
}

// pending is true until the connection has authenticated.
func (a *authState) pending() bool {
	if a == nil {
		return false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return !a.done
}

// rawNext is true when the next bytes are an unframed token (after SaslHandshake v0).
func (a *authState) rawNext() bool {
	if a == nil {
		return false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.raw && a.session != nil && !a.done && a.fail == nil
}

// err is why the connection must close, or nil.
func (a *authState) err() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.fail
}

// handshake selects mechanism and returns the SaslHandshake error code.
func (a *authState) handshake(mechanism string, version int16) int16 {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.done || a.session != nil {
		a.fail = fmt.Errorf("%w: SaslHandshake repeated", errSASLFailed)
		return kerr.IllegalSaslState.Code
	}
	sess := newSASLSession(a.creds, mechanism)
	if sess == nil {
		a.fail = fmt.Errorf("%w: mechanism %q is not enabled", errSASLFailed, mechanism)
		return kerr.UnsupportedSaslMechanism.Code
	}
	a.mech, a.session, a.raw = mechanism, sess, version == 0
	return 0
}

// authenticate runs one step of the exchange. A non-zero code is the SaslAuthenticate error code
// and msg its message; the connection then closes.
func (a *authState) authenticate(in []byte) (out []byte, code int16, msg string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case a.done:
		// Re-authentication (KIP-368) is not offered; the connection stays as it is.
		return nil, kerr.IllegalSaslState.Code, "already authenticated; re-authentication is not supported"
	case a.session == nil:
		a.fail = fmt.Errorf("%w: SaslAuthenticate before SaslHandshake", errSASLFailed)
		return nil, kerr.IllegalSaslState.Code, "SaslAuthenticate before a successful SaslHandshake"
	}
	out, done, err := a.session.step(in)
	if err != nil {
		a.fail = fmt.Errorf("%w: %s user %q: %w", errSASLFailed, a.mech, a.session.user(), err)
		a.sec.saslAuth.WithLabelValues(a.mech, "failure").Inc()
		return nil, kerr.SaslAuthenticationFailed.Code, err.Error()
	}
	if done {
		a.done, a.username = true, a.session.user()
		a.session = nil
		a.sec.saslAuth.WithLabelValues(a.mech, "success").Inc()
	}
	return out, 0, ""
}

// readRawToken reads one unframed SASL token (after SaslHandshake v0) and queues the unframed
// answer.
func (cc *clientConn) readRawToken(br *bufio.Reader) error {
	var sizeBuf [4]byte
	if _, err := io.ReadFull(br, sizeBuf[:]); err != nil {
		return err
	}
	size := int32(binary.BigEndian.Uint32(sizeBuf[:]))
	if size < 0 || size > maxSASLToken {
		return fmt.Errorf("%w: SASL token of %d bytes", errBadFrame, size)
	}
	_ = cc.nc.SetReadDeadline(time.Now().Add(cc.s.cfg.IOTimeout))
	if cc.stopping.Load() {
		return nil
	}
	tok := make([]byte, size)
	if _, err := io.ReadFull(br, tok); err != nil {
		return err
	}
	out, code, msg := cc.auth.authenticate(tok)
	if code != 0 {
		return fmt.Errorf("%w: %s", errSASLFailed, msg)
	}
	frame := binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(out)), uint32(len(out)))
	p := &pending{hdr: header{key: kmsg.SASLAuthenticate.Int16()}, received: time.Now(), done: make(chan struct{}),
		out: []piece{{b: append(frame, out...)}}}
	close(p.done)
	select {
	case cc.queue <- p:
	case <-cc.ctx.Done():
	}
	return nil
}

package kafka

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

func testCredentials(t testing.TB) *Credentials {
	t.Helper()
	c, err := ParseCredentials(strings.NewReader("# test users\nalice:wonder land\n\nbob:p:w,=x\r\n"), 0)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func mechanism(name, user, pass string) sasl.Mechanism {
	switch name {
	case mechPlain:
		return plain.Auth{User: user, Pass: pass}.AsMechanism()
	case mechSCRAM256:
		return scram.Auth{User: user, Pass: pass}.AsSha256Mechanism()
	default:
		return scram.Auth{User: user, Pass: pass}.AsSha512Mechanism()
	}
}

// metadataErr is the error of one Metadata request from a client built from opts.
func metadataErr(t *testing.T, addr string, opts ...kgo.Opt) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr), kgo.RequestRetries(0)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	_, err = cl.Request(ctx, kmsg.NewPtrMetadataRequest())
	return err
}

func TestSASLProduceConsume(t *testing.T) {
	pki := newTestPKI(t)
	creds := testCredentials(t)
	plainNode := startNode(t, nodeOpts{serverCfg: func(c *Config) { c.SASL = creds }})
	tlsNode := startNode(t, nodeOpts{serverCfg: func(c *Config) { c.SASL, c.TLS = creds, pki.serverTLS(false) }})
	for _, tc := range []struct {
		name, mech, user, pass string
		tls                    bool
	}{
		{name: "PLAIN", mech: mechPlain, user: "alice", pass: "wonder land"},
		{name: "SCRAM-SHA-256", mech: mechSCRAM256, user: "alice", pass: "wonder land"},
		{name: "SCRAM-SHA-512", mech: mechSCRAM512, user: "bob", pass: "p:w,=x"},
		{name: "TLS+SCRAM-SHA-512", mech: mechSCRAM512, user: "alice", pass: "wonder land", tls: true},
		{name: "TLS+PLAIN", mech: mechPlain, user: "bob", pass: "p:w,=x", tls: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, opts := plainNode, []kgo.Opt{kgo.SASL(mechanism(tc.mech, tc.user, tc.pass))}
			if tc.tls {
				n, opts = tlsNode, append(opts, kgo.DialTLSConfig(pki.clientTLS(false)))
			}
			before := testutil.ToFloat64(n.srv.sec.saslAuth.WithLabelValues(tc.mech, "success"))
			roundTripRecords(t, n.addr, "sasl-"+strings.ToLower(strings.ReplaceAll(tc.name, "+", "-")), 10, opts...)
			if after := testutil.ToFloat64(n.srv.sec.saslAuth.WithLabelValues(tc.mech, "success")); after <= before {
				t.Fatalf("successful authentications did not grow: %v -> %v", before, after)
			}
		})
	}
}

func TestSASLWrongCredentials(t *testing.T) {
	n := startNode(t, nodeOpts{serverCfg: func(c *Config) { c.SASL = testCredentials(t) }})
	for _, mech := range saslMechanisms {
		for _, who := range []struct{ user, pass string }{{"alice", "wonderland"}, {"mallory", "wonder land"}, {"bob", "p:w,=X"}} {
			t.Run(mech+"/"+who.user, func(t *testing.T) {
				err := metadataErr(t, n.addr, kgo.SASL(mechanism(mech, who.user, who.pass)))
				if !errors.Is(err, kerr.SaslAuthenticationFailed) {
					t.Fatalf("err = %v, want SASL_AUTHENTICATION_FAILED", err)
				}
			})
		}
	}
	if got := testutil.ToFloat64(n.srv.sec.saslAuth.WithLabelValues(mechSCRAM256, "failure")); got < 3 {
		t.Fatalf("SCRAM-SHA-256 failures counted = %v, want at least 3", got)
	}
}

// Without authentication only ApiVersions and the SASL APIs are served; anything else closes.
func TestSASLUnauthenticatedRequestCloses(t *testing.T) {
	n := startNode(t, nodeOpts{serverCfg: func(c *Config) { c.SASL = testCredentials(t) }})
	r := n.raw(t)
	av := kmsg.NewPtrApiVersionsRequest()
	av.SetVersion(3)
	resp := r.roundTrip(av).(*kmsg.ApiVersionsResponse)
	if len(resp.ApiKeys) != len(apis)+2 {
		t.Fatalf("%d keys advertised, want %d (registered + SaslHandshake + SaslAuthenticate)", len(resp.ApiKeys), len(apis)+2)
	}
	seen := map[int16]bool{}
	for _, k := range resp.ApiKeys {
		seen[k.ApiKey] = true
	}
	if !seen[kmsg.SASLHandshake.Int16()] || !seen[kmsg.SASLAuthenticate.Int16()] {
		t.Fatalf("SASL APIs not advertised: %v", seen)
	}
	r.send(produceRequest("t", 0, recordBatch(1, -1, 0, 0), 1, 1000))
	r.expectClosed()

	// Metadata, too; and a SaslAuthenticate before any handshake answers ILLEGAL_SASL_STATE, then closes.
	r = n.raw(t)
	md := kmsg.NewPtrMetadataRequest()
	md.SetVersion(9)
	r.send(md)
	r.expectClosed()
	r = n.raw(t)
	auth := kmsg.NewPtrSASLAuthenticateRequest()
	auth.SetVersion(2)
	auth.SASLAuthBytes = []byte("\x00alice\x00wonder land")
	if got := r.roundTrip(auth).(*kmsg.SASLAuthenticateResponse); got.ErrorCode != kerr.IllegalSaslState.Code {
		t.Fatalf("SaslAuthenticate before handshake: %+v", got)
	}
	r.expectClosed()
}

func TestSASLHandshake(t *testing.T) {
	n := startNode(t, nodeOpts{serverCfg: func(c *Config) { c.SASL = testCredentials(t) }})
	// An unknown mechanism is answered with the list, then the connection closes.
	r := n.raw(t)
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.SetVersion(1)
	hs.Mechanism = "GSSAPI"
	got := r.roundTrip(hs).(*kmsg.SASLHandshakeResponse)
	if got.ErrorCode != kerr.UnsupportedSaslMechanism.Code || strings.Join(got.SupportedMechanisms, ",") != "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512" {
		t.Fatalf("GSSAPI handshake: %+v", got)
	}
	r.expectClosed()

	// v1 PLAIN by hand, then a request that needs authentication works, and a second
	// authentication is refused without closing.
	r = n.raw(t)
	hs.Mechanism = mechPlain
	if got := r.roundTrip(hs).(*kmsg.SASLHandshakeResponse); got.ErrorCode != 0 {
		t.Fatalf("PLAIN handshake: %+v", got)
	}
	auth := kmsg.NewPtrSASLAuthenticateRequest()
	auth.SetVersion(1)
	auth.SASLAuthBytes = []byte("alice\x00alice\x00wonder land")
	if got := r.roundTrip(auth).(*kmsg.SASLAuthenticateResponse); got.ErrorCode != 0 || got.SessionLifetimeMillis != 0 {
		t.Fatalf("PLAIN authenticate: %+v", got)
	}
	md := kmsg.NewPtrMetadataRequest()
	md.SetVersion(9)
	if got := r.roundTrip(md).(*kmsg.MetadataResponse); len(got.Brokers) != 1 {
		t.Fatalf("metadata after authentication: %+v", got)
	}
	if got := r.roundTrip(auth).(*kmsg.SASLAuthenticateResponse); got.ErrorCode != kerr.IllegalSaslState.Code {
		t.Fatalf("second authenticate: %+v", got)
	}
	if got := r.roundTrip(md).(*kmsg.MetadataResponse); len(got.Brokers) != 1 {
		t.Fatalf("metadata after refused re-authentication: %+v", got)
	}

	// A wrong password answers SASL_AUTHENTICATION_FAILED with a message, then closes.
	r = n.raw(t)
	r.roundTrip(hs)
	auth.SASLAuthBytes = []byte("\x00alice\x00wonderland")
	bad := r.roundTrip(auth).(*kmsg.SASLAuthenticateResponse)
	if bad.ErrorCode != kerr.SaslAuthenticationFailed.Code || bad.ErrorMessage == nil || *bad.ErrorMessage == "" {
		t.Fatalf("wrong password: %+v", bad)
	}
	r.expectClosed()
}

// SaslHandshake v0 is followed by bare size-prefixed tokens.
func TestSASLHandshakeV0RawTokens(t *testing.T) {
	n := startNode(t, nodeOpts{serverCfg: func(c *Config) { c.SASL = testCredentials(t) }})
	rawToken := func(r *rawConn, tok string) {
		r.writeRaw(append(binary.BigEndian.AppendUint32(nil, uint32(len(tok))), tok...))
	}
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.SetVersion(0)
	hs.Mechanism = mechPlain

	r := n.raw(t)
	if got := r.roundTrip(hs).(*kmsg.SASLHandshakeResponse); got.ErrorCode != 0 {
		t.Fatalf("v0 handshake: %+v", got)
	}
	rawToken(r, "\x00bob\x00p:w,=x")
	var sz [4]byte
	if _, err := io.ReadFull(r.c, sz[:]); err != nil || binary.BigEndian.Uint32(sz[:]) != 0 {
		t.Fatalf("PLAIN token answer: %v %x", err, sz)
	}
	md := kmsg.NewPtrMetadataRequest()
	md.SetVersion(4)
	if got := r.roundTrip(md).(*kmsg.MetadataResponse); len(got.Brokers) != 1 {
		t.Fatalf("metadata after v0 authentication: %+v", got)
	}

	r = n.raw(t)
	r.roundTrip(hs)
	rawToken(r, "\x00bob\x00nope")
	if _, err := io.ReadFull(r.c, sz[:]); err == nil {
		t.Fatal("a wrong v0 token was answered; want the connection closed")
	}
}

func TestParseCredentials(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		users    int
		wantErr  bool
	}{
		{name: "two users", in: "a:1\nb:2\n", users: 2},
		{name: "comments and blanks", in: "# x\n\n  \na:1\r\n", users: 1},
		{name: "colon in password", in: "a:b:c\n", users: 1},
		{name: "no colon", in: "a\n", wantErr: true},
		{name: "empty user", in: ":pw\n", wantErr: true},
		{name: "empty password", in: "a:\n", wantErr: true},
		{name: "duplicate", in: "a:1\na:2\n", wantErr: true},
		{name: "empty file", in: "# nobody\n", wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ParseCredentials(strings.NewReader(tc.in), 0)
			if tc.wantErr {
				if !errors.Is(err, ErrCredentials) {
					t.Fatalf("err = %v, want ErrCredentials", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Len() != tc.users {
				t.Fatalf("%d users, want %d", c.Len(), tc.users)
			}
		})
	}
	if _, err := NewCredentials(map[string]string{"a": "b"}, 1000); !errors.Is(err, ErrCredentials) {
		t.Fatalf("1000 iterations: %v", err)
	}
}

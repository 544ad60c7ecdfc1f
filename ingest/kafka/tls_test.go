package kafka

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-log/strata/ingest/broker"
	"github.com/strata-log/strata/ingest/group"
)

// testPKI is a certificate authority made for one test, with a server certificate for 127.0.0.1
// and a client certificate. Nothing is written to the repository.
type testPKI struct {
	caCert  *x509.Certificate
	caKey   *ecdsa.PrivateKey
	pool    *x509.CertPool
	server  tls.Certificate
	client  tls.Certificate
	caPEM   []byte
	certPEM []byte // server
	keyPEM  []byte // server
}

func newTestPKI(t testing.TB) *testPKI {
	t.Helper()
	p := &testPKI{}
	var err error
	if p.caKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "strata test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &p.caKey.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	if p.caCert, err = x509.ParseCertificate(der); err != nil {
		t.Fatal(err)
	}
	p.caPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	p.pool = x509.NewCertPool()
	p.pool.AddCert(p.caCert)
	p.server, p.certPEM, p.keyPEM = p.issue(t, 2, "127.0.0.1", x509.ExtKeyUsageServerAuth)
	p.client, _, _ = p.issue(t, 3, "client", x509.ExtKeyUsageClientAuth)
	return p
}

func (p *testPKI) issue(t testing.TB, serial int64, cn string, usage x509.ExtKeyUsage) (tls.Certificate, []byte, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
	}
	if ip := net.ParseIP(cn); ip != nil {
		tmpl.IPAddresses = []net.IP{ip}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.caCert, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
	c, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return c, certPEM, keyPEM
}

func (p *testPKI) serverTLS(mtls bool) *tls.Config {
	c := &tls.Config{Certificates: []tls.Certificate{p.server}, MinVersion: tls.VersionTLS12}
	if mtls {
		c.ClientCAs, c.ClientAuth = p.pool, tls.RequireAndVerifyClientCert
	}
	return c
}

func (p *testPKI) clientTLS(withCert bool) *tls.Config {
	c := &tls.Config{RootCAs: p.pool, MinVersion: tls.VersionTLS12}
	if withCert {
		c.Certificates = []tls.Certificate{p.client}
	}
	return c
}

// roundTripRecords produces n records to topic with a client built from opts, then consumes them
// with another such client, and fails the test unless every value comes back in order.
func roundTripRecords(t *testing.T, addr, topic string, n int, opts ...kgo.Opt) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	base := append([]kgo.Opt{kgo.SeedBrokers(addr), kgo.AllowAutoTopicCreation(), kgo.RetryTimeout(10 * time.Second)}, opts...)
	pr, err := kgo.NewClient(base...)
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	for i := range n {
		if err := pr.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: fmt.Appendf(nil, "v%d", i)}).FirstErr(); err != nil {
			t.Fatalf("produce %d: %v", i, err)
		}
	}
	co, err := kgo.NewClient(append(base, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
	if err != nil {
		t.Fatal(err)
	}
	defer co.Close()
	var got []string
	for len(got) < n {
		fs := co.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d records: %v", len(got), n, err)
		}
		if errs := fs.Errors(); len(errs) > 0 {
			t.Fatalf("fetch: %v", errs[0].Err)
		}
		fs.EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	for i, v := range got {
		if want := fmt.Sprintf("v%d", i); v != want {
			t.Fatalf("record %d = %q, want %q", i, v, want)
		}
	}
}

// tlsApiVersions sends one ApiVersions request over TLS with cfg and reads the answer.
func tlsApiVersions(addr string, cfg *tls.Config) error {
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	av := kmsg.NewPtrApiVersionsRequest()
	av.SetVersion(3)
	var rf kmsg.RequestFormatter
	if _, err := c.Write(rf.AppendRequest(nil, av, 1)); err != nil {
		return err
	}
	var sz [4]byte
	_, err = io.ReadFull(c, sz[:])
	return err
}

func TestTLSProduceConsume(t *testing.T) {
	pki := newTestPKI(t)
	n := startNode(t, nodeOpts{serverCfg: func(c *Config) { c.TLS = pki.serverTLS(false) }})
	roundTripRecords(t, n.addr, "tls", 20, kgo.DialTLSConfig(pki.clientTLS(false)))
}

// A plaintext client on a TLS listener fails and is counted; the listener keeps serving others.
func TestTLSPlaintextClientFailsCleanly(t *testing.T) {
	pki := newTestPKI(t)
	n := startNode(t, nodeOpts{serverCfg: func(c *Config) { c.TLS = pki.serverTLS(false) }})

	r := n.raw(t) // plaintext Kafka bytes: not a TLS ClientHello
	av := kmsg.NewPtrApiVersionsRequest()
	av.SetVersion(3)
	r.send(av)
	r.expectClosed()
	if err := metadataErr(t, n.addr); err == nil {
		t.Fatal("a plaintext franz-go client produced to a TLS listener")
	}
	if got := testutil.ToFloat64(n.srv.sec.tlsFailures); got < 1 {
		t.Fatalf("tls handshake failures = %v, want at least 1", got)
	}
	roundTripRecords(t, n.addr, "after-plain", 3, kgo.DialTLSConfig(pki.clientTLS(false)))
}

func TestMTLS(t *testing.T) {
	pki := newTestPKI(t)
	n := startNode(t, nodeOpts{serverCfg: func(c *Config) { c.TLS = pki.serverTLS(true) }})
	if err := tlsApiVersions(n.addr, pki.clientTLS(false)); err == nil {
		t.Fatal("a client without a certificate was answered by an mTLS listener")
	}
	// A certificate from another CA is refused too.
	other := newTestPKI(t)
	bad := pki.clientTLS(false)
	bad.Certificates = []tls.Certificate{other.client}
	if err := tlsApiVersions(n.addr, bad); err == nil {
		t.Fatal("a client with a certificate from an unknown CA was answered by an mTLS listener")
	}
	if err := tlsApiVersions(n.addr, pki.clientTLS(true)); err != nil {
		t.Fatalf("a client with a good certificate: %v", err)
	}
	roundTripRecords(t, n.addr, "mtls", 5, kgo.DialTLSConfig(pki.clientTLS(true)))
}

func TestServerTLSConfig(t *testing.T) {
	pki := newTestPKI(t)
	other := newTestPKI(t)
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cert, key, ca := write("cert.pem", pki.certPEM), write("key.pem", pki.keyPEM), write("ca.pem", pki.caPEM)
	otherKey := write("other-key.pem", other.keyPEM)
	garbage := write("garbage.pem", []byte("not pem"))
	missing := filepath.Join(dir, "missing.pem")

	for _, tc := range []struct {
		name            string
		cert, key, ca   string
		wantErr, wantMT bool
	}{
		{name: "cert and key", cert: cert, key: key},
		{name: "with client CA", cert: cert, key: key, ca: ca, wantMT: true},
		{name: "no key", cert: cert, wantErr: true},
		{name: "missing cert", cert: missing, key: key, wantErr: true},
		{name: "mismatched key", cert: cert, key: otherKey, wantErr: true},
		{name: "garbage CA", cert: cert, key: key, ca: garbage, wantErr: true},
		{name: "missing CA", cert: cert, key: key, ca: missing, wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := ServerTLSConfig(tc.cert, tc.key, tc.ca)
			if tc.wantErr {
				if !errors.Is(err, ErrTLS) {
					t.Fatalf("err = %v, want ErrTLS", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := c.ClientAuth == tls.RequireAndVerifyClientCert; got != tc.wantMT {
				t.Fatalf("client certificates required = %v, want %v", got, tc.wantMT)
			}
		})
	}
	if err := (Config{Broker: new(broker.Broker), Groups: new(group.Coordinator), TLS: &tls.Config{}}).Validate(); !errors.Is(err, ErrConfig) {
		t.Fatalf("TLS config without certificate: %v", err)
	}
}

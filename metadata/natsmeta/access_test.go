package natsmeta_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/metadata/natsmeta"
)

// startServer runs a bare nats-server with JetStream and the access rules in opts, stopped at
// cleanup; it returns the client URL.
func startServer(t *testing.T, opts *server.Options) string {
	t.Helper()
	opts.Host, opts.Port = "127.0.0.1", server.RANDOM_PORT
	opts.JetStream, opts.StoreDir = true, t.TempDir()
	opts.NoLog, opts.NoSigs = true, true
	srv, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	return srv.ClientURL()
}

// open opens a Store with cfg's access settings on a prefix of its own.
func open(t *testing.T, cfg natsmeta.Config) (*natsmeta.Store, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cfg.OpTimeout, cfg.RetryTimeout = 2*time.Second, 5*time.Second
	cfg.Logger = slog.New(slog.DiscardHandler)
	s, err := natsmeta.Open(ctx, cfg)
	if err == nil {
		t.Cleanup(func() { _ = s.Close() })
	}
	return s, err
}

// works writes and reads back a topic through s.
func works(t *testing.T, s *natsmeta.Store) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := s.CreateTopic(ctx, metadata.Topic{Name: "t", Partitions: 1}); err != nil {
		t.Fatalf("CreateTopic: %v", err)
	}
	if _, err := s.GetTopic(ctx, "t"); err != nil {
		t.Fatalf("GetTopic: %v", err)
	}
}

// refused checks that Open failed with an authorization error whose message shows none of secrets.
func refused(t *testing.T, err error, secrets ...string) {
	t.Helper()
	if err == nil {
		t.Fatal("Open succeeded without valid credentials")
	}
	if !errors.Is(err, nats.ErrAuthorization) {
		t.Fatalf("Open: %v; want an authorization failure", err)
	}
	for _, s := range secrets {
		if strings.Contains(err.Error(), s) {
			t.Fatalf("error %q shows a secret", err)
		}
	}
}

func withUser(rawURL, userinfo string) string {
	return strings.Replace(rawURL, "nats://", "nats://"+userinfo+"@", 1)
}

// An embedded server with a token refuses connections without it; its own Store connects
// in-process with it, and a Store over TCP connects with the token as a
// setting or in the URL.
func TestEmbeddedToken(t *testing.T) {
	const token = "tok-3f9a0c1e"
	e, err := natsmeta.StartEmbedded(natsmeta.EmbeddedConfig{Dir: t.TempDir(), Token: token})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Shutdown)

	if nc, err := nats.Connect(e.ClientURL(), nats.Timeout(2*time.Second)); err == nil {
		nc.Close()
		t.Fatal("nats.Connect without the token succeeded")
	} else if !errors.Is(err, nats.ErrAuthorization) {
		t.Fatalf("nats.Connect without the token: %v; want an authorization failure", err)
	}
	s, err := open(t, natsmeta.Config{Embedded: e, BucketPrefix: "inproc"})
	if err != nil {
		t.Fatalf("Open in-process: %v", err)
	}
	works(t, s)
	s, err = open(t, natsmeta.Config{URLs: []string{e.ClientURL()}, Token: token, BucketPrefix: "tcp"})
	if err != nil {
		t.Fatalf("Open with Token: %v", err)
	}
	works(t, s)
	s, err = open(t, natsmeta.Config{URLs: []string{withUser(e.ClientURL(), token)}, BucketPrefix: "url"})
	if err != nil {
		t.Fatalf("Open with the token in the URL: %v", err)
	}
	works(t, s)

	_, err = open(t, natsmeta.Config{URLs: []string{e.ClientURL()}, Token: "wrong-4c2d"})
	refused(t, err, "wrong-4c2d")
	_, err = open(t, natsmeta.Config{URLs: []string{withUser(e.ClientURL(), "wrong-77e1")}})
	refused(t, err, "wrong-77e1")
}

// Users with passwords, in the URL or as settings; a wrong password is refused and not shown.
func TestUserPassword(t *testing.T) {
	const pw = "pa55-w0rd-91c"
	u := startServer(t, &server.Options{Users: []*server.User{{Username: "strata", Password: pw}}})
	s, err := open(t, natsmeta.Config{URLs: []string{withUser(u, "strata:"+pw)}, BucketPrefix: "url"})
	if err != nil {
		t.Fatalf("Open with user:password in the URL: %v", err)
	}
	works(t, s)
	s, err = open(t, natsmeta.Config{URLs: []string{u}, User: "strata", Password: pw, BucketPrefix: "cfg"})
	if err != nil {
		t.Fatalf("Open with User/Password: %v", err)
	}
	works(t, s)
	_, err = open(t, natsmeta.Config{URLs: []string{u}})
	refused(t, err)
	_, err = open(t, natsmeta.Config{URLs: []string{withUser(u, "strata:bad-pw-0d1")}})
	refused(t, err, "bad-pw-0d1")
	_, err = open(t, natsmeta.Config{URLs: []string{u}, User: "strata", Password: "bad-pw-5e3"})
	refused(t, err, "bad-pw-5e3")
}

// An nkey user: the seed file signs the server's nonce; another key is refused.
func TestNKey(t *testing.T) {
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := kp.PublicKey()
	seed, _ := kp.Seed()
	seedFile := filepath.Join(t.TempDir(), "user.nk")
	if err := os.WriteFile(seedFile, seed, 0o600); err != nil {
		t.Fatal(err)
	}
	other, _ := nkeys.CreateUser()
	otherSeed, _ := other.Seed()
	otherFile := filepath.Join(t.TempDir(), "other.nk")
	if err := os.WriteFile(otherFile, otherSeed, 0o600); err != nil {
		t.Fatal(err)
	}
	u := startServer(t, &server.Options{Nkeys: []*server.NkeyUser{{Nkey: pub}}})
	s, err := open(t, natsmeta.Config{URLs: []string{u}, NKeyFile: seedFile})
	if err != nil {
		t.Fatalf("Open with the nkey: %v", err)
	}
	works(t, s)
	_, err = open(t, natsmeta.Config{URLs: []string{u}, NKeyFile: otherFile})
	refused(t, err, string(otherSeed))
	if _, err := open(t, natsmeta.Config{URLs: []string{u}, NKeyFile: filepath.Join(t.TempDir(), "missing")}); err == nil {
		t.Fatal("Open with a missing seed file succeeded")
	}
}

// A server that requires TLS: a client trusting its CA connects (tls:// or nats://), one that
// does not is refused by its own verification.
func TestTLS(t *testing.T) {
	caPool, serverCert := testCA(t)
	u := startServer(t, &server.Options{TLS: true, TLSConfig: &tls.Config{Certificates: []tls.Certificate{serverCert},
		MinVersion: tls.VersionTLS12}, TLSTimeout: 2})
	tlsURL := strings.Replace(u, "nats://", "tls://", 1)
	for i, url := range []string{u, tlsURL} {
		s, err := open(t, natsmeta.Config{URLs: []string{url}, TLS: &tls.Config{RootCAs: caPool, MinVersion: tls.VersionTLS12},
			BucketPrefix: "p" + itoa(i)})
		if err != nil {
			t.Fatalf("Open %s trusting the CA: %v", url, err)
		}
		works(t, s)
	}
	_, err := open(t, natsmeta.Config{URLs: []string{tlsURL}})
	var unknown x509.UnknownAuthorityError
	if !errors.As(err, &unknown) {
		t.Fatalf("Open without the CA: %v; want an unknown-authority error", err)
	}
}

// A clustered server with a token requires it of routes as well: the members that know it
// form a cluster, a server without it never joins.
func TestClusterRoutesNeedToken(t *testing.T) {
	const token = "route-tok-b71"
	ports := make([]int, 3)
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ports[i] = l.Addr().(*net.TCPAddr).Port
		l.Close()
	}
	routes := []string{}
	for _, p := range ports[:2] {
		routes = append(routes, "nats-route://127.0.0.1:"+itoa(p))
	}
	var members []*natsmeta.Embedded
	for i, p := range ports[:2] {
		e, err := natsmeta.StartEmbedded(natsmeta.EmbeddedConfig{Dir: t.TempDir(), ServerName: "m" + itoa(i),
			ClusterName: "strata-meta", ClusterPort: p, Routes: routes, Token: token})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(e.Shutdown)
		members = append(members, e)
	}
	stranger, err := natsmeta.StartEmbedded(natsmeta.EmbeddedConfig{Dir: t.TempDir(), ServerName: "stranger",
		ClusterName: "strata-meta", ClusterPort: ports[2], Routes: routes})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stranger.Shutdown)
	deadline := time.Now().Add(10 * time.Second)
	for members[0].Server().NumRoutes() == 0 || members[1].Server().NumRoutes() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the members with the token did not route to each other")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// A refused route exists on the stranger's side from the member's INFO until the member
	// refuses its CONNECT and closes it, so the stranger's own count can read 1 for a moment.
	// What must never happen is a member accepting it: checked throughout a window in which the
	// stranger retries its routes, and then the stranger is seen with no route at all.
	for window := time.Now().Add(2 * time.Second); time.Now().Before(window); time.Sleep(20 * time.Millisecond) {
		for i, m := range members {
			rz, err := m.Server().Routez(nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range rz.Routes {
				if r.RemoteID == stranger.Server().ID() {
					t.Fatalf("member %d has a route from the server without the token", i)
				}
			}
		}
	}
	for deadline := time.Now().Add(5 * time.Second); stranger.Server().NumRoutes() != 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("a server without the token has %d routes into the cluster", stranger.Server().NumRoutes())
		}
	}
}

func itoa(i int) string { return strconv.Itoa(i) }

func TestRedactURLs(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"nats://h:4222", "nats://h:4222"},
		{"nats://alice:s3cret@h:4222", "nats://xxxxx:xxxxx@h:4222"},
		{"nats://tok3n@h:4222,tls://bob:pw@g:4222", "nats://xxxxx@h:4222,tls://xxxxx:xxxxx@g:4222"},
		{"nats://a:b@h:4222, nats://k:4222", "nats://xxxxx:xxxxx@h:4222,nats://k:4222"},
		{"nats://us er:p%zz@h", "(unparsable)"},
	} {
		if got := natsmeta.RedactURLs(tc.in); got != tc.want {
			t.Errorf("RedactURLs(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestTokenFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "meta.token")
	tok, err := natsmeta.LoadOrCreateToken(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(tok) < 40 {
		t.Fatalf("token %q is short", tok)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("token file mode %v, want 0600", st.Mode().Perm())
	}
	again, err := natsmeta.LoadOrCreateToken(path)
	if err != nil || again != tok {
		t.Fatalf("second load: %q, %v; want the same token", again, err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := natsmeta.LoadOrCreateToken(path); !errors.Is(err, natsmeta.ErrTokenFileMode) {
		t.Fatalf("world-readable token file: %v; want ErrTokenFileMode", err)
	}
	empty := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := natsmeta.ReadToken(empty); err == nil {
		t.Fatal("an empty token file was accepted")
	}
}

// testCA returns a pool with a fresh CA and a server certificate for 127.0.0.1 it signed.
func testCA(t *testing.T) (*x509.CertPool, tls.Certificate) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "nats"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	return pool, tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

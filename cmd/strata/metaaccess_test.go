package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/strata-log/strata/metadata/natsmeta"
	"github.com/strata-log/strata/tier/objstore/objstoretest"
)

// startNATS runs a nats-server with JetStream and opts' access rules for one test; it returns
// the client URL (nats://127.0.0.1:port).
func startNATS(t *testing.T, opts *server.Options) string {
	t.Helper()
	opts.Host, opts.Port = "127.0.0.1", server.RANDOM_PORT
	opts.JetStream, opts.StoreDir, opts.NoLog, opts.NoSigs = true, t.TempDir(), true, true
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

// runStrata runs `strata server` with args in this process and returns its exit code and stderr.
func runStrata(args ...string) (int, string) {
	var stderr bytes.Buffer
	code := run(append([]string{"server"}, args...), strings.NewReader(""), io.Discard, &stderr)
	return code, stderr.String()
}

// A node reaches an external NATS that requires a user and password given in --metadata; the
// password appears nowhere: not in its log (the serving line shows the URL redacted), not in its
// metrics. A wrong password fails the start with an authorization error that does not show it.
func TestMetadataURLCredentialsNeverShown(t *testing.T) {
	const pw = "n4ts-pa55-c0e7"
	u := startNATS(t, &server.Options{Users: []*server.User{{Username: "strata", Password: pw}}})
	withCreds := strings.Replace(u, "nats://", "nats://strata:"+pw+"@", 1)

	p := startStrata(t, append(serverArgs(t.TempDir()), "--metadata", withCreds)...)
	resp, err := http.Get("http://" + p.http + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || len(metrics) == 0 {
		t.Fatalf("/metrics: %s, %d bytes", resp.Status, len(metrics))
	}
	if bytes.Contains(metrics, []byte(pw)) {
		t.Fatal("the metadata password is in /metrics")
	}
	if log := p.log(); strings.Contains(log, pw) || !strings.Contains(log, "metadata=nats://xxxxx:xxxxx@127.0.0.1:") {
		t.Fatalf("want the serving line to show the metadata URL redacted and no password:\n%s", log)
	}

	const wrong = "wr0ng-pa55-9d2a"
	code, out := runStrata(append(serverArgs(t.TempDir()), "--metadata", strings.Replace(u, "nats://", "nats://strata:"+wrong+"@", 1))...)
	t.Logf("wrong password: %s", out)
	if code != 1 || strings.Contains(out, wrong) || !strings.Contains(strings.ToLower(out), "authorization") {
		t.Fatalf("wrong password: exit %d, want 1 with an authorization error that does not show it:\n%s", code, out)
	}
}

// --metadata-token-file: a 0600 file with the token reaches a NATS that requires it; a file
// others may read is refused before anything connects.
func TestMetadataTokenFile(t *testing.T) {
	const token = "t0ken-5b8e11"
	u := startNATS(t, &server.Options{Authorization: token})
	file := filepath.Join(t.TempDir(), "nats.token")
	if err := os.WriteFile(file, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startStrata(t, append(serverArgs(t.TempDir()), "--metadata", u, "--metadata-token-file", file)...)
	if strings.Contains(p.log(), token) {
		t.Fatalf("the token is in the log:\n%s", p.log())
	}
	if err := os.Chmod(file, 0o644); err != nil {
		t.Fatal(err)
	}
	code, out := runStrata(append(serverArgs(t.TempDir()), "--metadata", u, "--metadata-token-file", file)...)
	if code != 2 || !strings.Contains(out, "0600") || strings.Contains(out, token) {
		t.Fatalf("world-readable token file: exit %d, want 2 naming the mode:\n%s", code, out)
	}
	// Without any token the server refuses the node.
	code, out = runStrata(append(serverArgs(t.TempDir()), "--metadata", u)...)
	if code != 1 || !strings.Contains(strings.ToLower(out), "authorization") {
		t.Fatalf("no token: exit %d, want 1 with an authorization error:\n%s", code, out)
	}
}

func TestMetadataAccessFlags(t *testing.T) {
	for _, tc := range []struct {
		name, metadata string
		access         metadataAccess
		want           string // "" = valid
	}{
		{"embedded", "embedded", metadataAccess{}, ""},
		{"url-user", "nats://u:p@h:4222,nats://u:p@g:4222", metadataAccess{}, ""},
		{"url-token", "nats://tok@h:4222", metadataAccess{}, ""},
		{"tls-scheme", "tls://h:4222", metadataAccess{tlsCA: "ca.pem"}, ""},
		{"token-file", "nats://h:4222", metadataAccess{tokenFile: "f"}, ""},
		{"creds", "nats://h:4222", metadataAccess{creds: "c"}, ""},
		{"nkey-mtls", "nats://h:4222", metadataAccess{nkey: "n", tlsCert: "c", tlsKey: "k"}, ""},
		{"embedded-with-creds", "embedded", metadataAccess{creds: "c"}, "external --metadata"},
		{"embedded-with-ca", "embedded", metadataAccess{tlsCA: "ca"}, "external --metadata"},
		{"two-kinds", "nats://h:4222", metadataAccess{creds: "c", nkey: "n"}, "give one"},
		{"url-and-flag", "nats://u:s3cr3t@h:4222", metadataAccess{tokenFile: "f"}, "carries credentials"},
		{"cert-without-key", "nats://h:4222", metadataAccess{tlsCert: "c"}, "go together"},
		{"bad-scheme", "http://u:s3cr3t@h:4222", metadataAccess{}, "want \"embedded\""},
		{"bad-url", "nats://u:s3cr3t@h:4222,nats://%zz", metadataAccess{}, "want \"embedded\""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.access.validate(tc.metadata)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("validate: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("validate: %v; want an error with %q", err, tc.want)
			case err != nil && strings.Contains(err.Error(), "s3cr3t"):
				t.Fatalf("error %q shows the password", err)
			}
		})
	}
}

// `strata dev nats` listens, so it requires a token: without --token-file it creates one in
// <dir>/nats.token with mode 0600; a client without it is refused, one with it connects.
func TestDevNATSRequiresToken(t *testing.T) {
	dir := t.TempDir()
	client, cluster := objstoretest.FreeAddr(t), objstoretest.FreeAddr(t)
	_, cport, _ := net.SplitHostPort(client)
	_, rport, _ := net.SplitHostPort(cluster)
	cmd := exec.Command(os.Args[0], "dev", "nats", "--name", "n1", "--dir", dir, "--port", cport,
		"--cluster-port", rport, "--routes", "nats-route://"+cluster)
	cmd.Env = append(os.Environ(), "STRATA_TEST_MAIN=1")
	var logs objstoretest.SyncBuffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	url := "nats://" + client
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(logs.String(), "nats serving") {
		if time.Now().After(deadline) {
			t.Fatalf("dev nats did not start:\n%s", logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	st, err := os.Stat(filepath.Join(dir, "nats.token"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("token file: %v, %v; want mode 0600", st, err)
	}
	tok, err := natsmeta.ReadToken(filepath.Join(dir, "nats.token"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(logs.String(), tok) {
		t.Fatalf("the token is in the log:\n%s", logs.String())
	}
	if nc, err := nats.Connect(url, nats.Timeout(2*time.Second)); err == nil {
		nc.Close()
		t.Fatal("a client without the token connected")
	} else if !errors.Is(err, nats.ErrAuthorization) {
		t.Fatalf("a client without the token: %v; want an authorization failure", err)
	}
	nc, err := nats.Connect(url, nats.Timeout(2*time.Second), nats.Token(tok))
	if err != nil {
		t.Fatalf("a client with the token: %v", err)
	}
	nc.Close()
}

// --metadata tls://… with --metadata-tls-ca and --metadata-token-file reaches a NATS that
// requires TLS and a token; without the CA the start fails on the certificate.
func TestMetadataTLSFlags(t *testing.T) {
	const token = "tls-t0ken-a41"
	dir := t.TempDir()
	caFile, certFile, keyFile := writeTestPKI(t, dir)
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	u := startNATS(t, &server.Options{Authorization: token, TLS: true, TLSTimeout: 2,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}})
	tlsURL := strings.Replace(u, "nats://", "tls://", 1)
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte(token), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startStrata(t, append(serverArgs(t.TempDir()), "--metadata", tlsURL,
		"--metadata-token-file", tokenFile, "--metadata-tls-ca", caFile)...)
	if !strings.Contains(p.log(), "metadata=tls://127.0.0.1:") {
		t.Fatalf("serving line without the metadata URL:\n%s", p.log())
	}
	code, out := runStrata(append(serverArgs(t.TempDir()), "--metadata", tlsURL, "--metadata-token-file", tokenFile)...)
	if code != 1 || !strings.Contains(out, "certificate") {
		t.Fatalf("without the CA: exit %d, want 1 with a certificate error:\n%s", code, out)
	}
	code, out = runStrata(append(serverArgs(t.TempDir()), "--metadata", tlsURL, "--metadata-tls-ca", keyFile)...)
	if code != 2 || !strings.Contains(out, "--metadata-tls-ca") {
		t.Fatalf("a CA file without certificates: exit %d, want 2 naming the flag:\n%s", code, out)
	}
}

// writeTestPKI writes a fresh CA and a server certificate for 127.0.0.1 it signed, as PEM files
// under dir: the CA's certificate, the server's certificate and its key.
func writeTestPKI(t *testing.T, dir string) (caFile, certFile, keyFile string) {
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
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, typ string, b []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	return write("ca.pem", "CERTIFICATE", caDER), write("nats.pem", "CERTIFICATE", der), write("nats-key.pem", "EC PRIVATE KEY", keyDER)
}

package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// writeTestCerts writes, under dir, a CA made for this test (ca.pem) and a certificate and key for
// 127.0.0.1 that it signed (cert.pem, key.pem), and returns the three paths and the CA's pool.
func writeTestCerts(t *testing.T, dir string) (caFile, certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	caKey, key := newKey(), newKey()
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "strata test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	if ca, err = x509.ParseCertificate(caDER); err != nil {
		t.Fatal(err)
	}
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
	der, err := x509.CreateCertificate(rand.Reader, leaf, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	caFile, certFile, keyFile = filepath.Join(dir, "ca.pem"), filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	for file, block := range map[string]*pem.Block{caFile: {Type: "CERTIFICATE", Bytes: caDER},
		certFile: {Type: "CERTIFICATE", Bytes: der}, keyFile: {Type: "EC PRIVATE KEY", Bytes: kder}} {
		if err := os.WriteFile(file, pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	pool = x509.NewCertPool()
	pool.AddCert(ca)
	return caFile, certFile, keyFile, pool
}

func writeUsers(t *testing.T, dir string) string {
	t.Helper()
	f := filepath.Join(dir, "users")
	if err := os.WriteFile(f, []byte("alice:correct horse\nbob:hunter2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// httpDo sends method url with Basic credentials (none when user is "") and returns the status
// and body.
func httpDo(t *testing.T, cl *http.Client, method, url, user, password, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, password)
	}
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestHTTPAuthTLS runs a node with SASL users and HTTPS: ingest takes only the users'
// credentials and writes nothing otherwise, the probes stay open, /metrics needs credentials,
// plain HTTP is not served, and strata cost reads the report with credentials over TLS.
func TestHTTPAuthTLS(t *testing.T) {
	dir := t.TempDir()
	caFile, certFile, keyFile, pool := writeTestCerts(t, dir)
	users := writeUsers(t, dir)
	p := startStrata(t, append(serverArgs(filepath.Join(dir, "data")), "--sasl-users", users,
		"--http-tls-cert", certFile, "--http-tls-key", keyFile)...)
	if !strings.Contains(p.log(), "http_tls=true http_auth=true http_open_metrics=false") {
		t.Errorf("serving line does not report HTTPS and authentication:\n%s", p.log())
	}
	cl := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	base := "https://" + p.http
	const topic = "secured"
	ingest := base + "/v1/topics/" + topic + "/records"

	for _, tc := range []struct {
		method, url, user, password string
		want                        int
	}{
		{"GET", base + "/healthz", "", "", 200},
		{"GET", base + "/readyz", "", "", 200},
		{"GET", base + "/metrics", "", "", 401},
		{"GET", base + "/debug/pprof/", "", "", 401},
		{"GET", base + "/v1/cost", "", "", 401},
		{"POST", ingest, "", "", 401},
		{"POST", ingest, "alice", "hunter2", 401},
		{"POST", ingest, "mallory", "correct horse", 401},
		{"POST", ingest, "alice", "correct horse", 200},
		{"GET", base + "/metrics", "bob", "hunter2", 200},
	} {
		code, body := httpDo(t, cl, tc.method, tc.url, tc.user, tc.password, `{"n":1}`+"\n")
		if code != tc.want {
			t.Errorf("%s %s as %q: %d, want %d: %s", tc.method, tc.url, tc.user, code, tc.want, body)
		}
	}
	_, metrics := httpDo(t, cl, "GET", base+"/metrics", "bob", "hunter2", "")
	for _, want := range []string{`strata_http_auth_failures_total{reason="invalid"} 2`, `strata_http_auth_failures_total{reason="missing"} 4`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(p.log(), "hunter2") || strings.Contains(p.log(), "correct horse") {
		t.Errorf("a password reached the log:\n%s", p.log())
	}

	// Plain HTTP on the HTTPS port is refused.
	if code, body := httpDo(t, http.DefaultClient, "POST", "http://"+p.http+"/v1/topics/"+topic+"/records", "alice", "correct horse", "{}\n"); code != http.StatusBadRequest {
		t.Errorf("plain HTTP on the HTTPS port: %d %s", code, body)
	}

	// Only the authenticated post was written: read the topic back over SASL Kafka.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	kc, err := kgo.NewClient(kgo.SeedBrokers(p.kafka), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.SASL(scram.Auth{User: "bob", Pass: "hunter2"}.AsSha256Mechanism()))
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()
	var values []string
	for len(values) < 1 && ctx.Err() == nil {
		kc.PollFetches(ctx).EachRecord(func(r *kgo.Record) { values = append(values, string(r.Value)) })
	}
	if len(values) != 1 || values[0] != `{"n":1}` {
		t.Fatalf("topic holds %q, want the one authenticated post", values)
	}
	ends, err := kadm.NewClient(kc).ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	ends.Each(func(o kadm.ListedOffset) { total += o.Offset })
	if total != 1 {
		t.Fatalf("topic's end offsets sum to %d, want 1 (only the authenticated post)", total)
	}

	t.Run("cost", func(t *testing.T) {
		args := []string{"cost", "--http-addr", p.http, "--timeout", "20s"}
		for _, tc := range []struct {
			name     string
			args     []string
			password string
			code     int
			want     string
		}{
			{"credentials over TLS", []string{"--tls-ca", caFile, "--sasl-user", "alice"}, "correct horse", 0, "PER MONTH"},
			{"no credentials", []string{"--tls-ca", caFile}, "", 1, "asks for credentials: give --sasl-user and STRATA_SASL_PASSWORD"},
			{"wrong password", []string{"--tls-ca", caFile, "--sasl-user", "alice"}, "hunter2", 1, `refused user "alice"`},
			{"untrusted certificate", []string{"--http-tls", "--sasl-user", "alice"}, "correct horse", 1, "certificate"},
			{"plain HTTP", []string{"--sasl-user", "alice"}, "correct horse", 1, "serves HTTPS: give --http-tls"},
			{"user without password", []string{"--tls-ca", caFile, "--sasl-user", "alice"}, "", 2, "--sasl-user and --sasl-password"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				t.Setenv("STRATA_SASL_PASSWORD", tc.password)
				if tc.password == "" {
					os.Unsetenv("STRATA_SASL_PASSWORD")
				}
				var out, errb bytes.Buffer
				code := run(append(args, tc.args...), nil, &out, &errb)
				if code != tc.code || !strings.Contains(out.String()+errb.String(), tc.want) {
					t.Fatalf("exit %d, want %d with %q; stdout %q stderr %q", code, tc.code, tc.want, out.String(), errb.String())
				}
			})
		}
	})
}

// TestHTTPOpenMetrics: with --http-open-metrics a scraper reads /metrics and pprof without
// credentials; everything else still needs them.
func TestHTTPOpenMetrics(t *testing.T) {
	dir := t.TempDir()
	p := startStrata(t, append(serverArgs(filepath.Join(dir, "data")), "--sasl-users", writeUsers(t, dir), "--http-open-metrics")...)
	base := "http://" + p.http
	for path, want := range map[string]int{"/metrics": 200, "/debug/pprof/": 200, "/healthz": 200, "/v1/cost": 401} {
		if code, body := httpDo(t, http.DefaultClient, "GET", base+path, "", "", ""); code != want {
			t.Errorf("GET %s: %d, want %d: %s", path, code, want, body)
		}
	}
	if code, body := httpDo(t, http.DefaultClient, "POST", base+"/v1/topics/t/records", "", "", "{}\n"); code != 401 {
		t.Errorf("ingest without credentials: %d %s", code, body)
	}
	var out, errb bytes.Buffer
	t.Setenv("STRATA_SASL_PASSWORD", "hunter2")
	if code := run([]string{"cost", "--http-addr", p.http, "--sasl-user", "bob"}, nil, &out, &errb); code != 0 {
		t.Fatalf("strata cost as bob over HTTP: exit %d: %s", code, errb.String())
	}
}

// TestHTTPTLSBadFiles: a missing or unusable certificate or key stops the server with a usage
// error before anything starts.
func TestHTTPTLSBadFiles(t *testing.T) {
	dir := t.TempDir()
	_, certFile, keyFile, _ := writeTestCerts(t, dir)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"cert without key", []string{"--http-tls-cert", certFile}, "--http-tls-cert and --http-tls-key go together"},
		{"missing file", []string{"--http-tls-cert", filepath.Join(dir, "none.pem"), "--http-tls-key", keyFile}, "--http-tls-cert/--http-tls-key"},
		{"key is not the cert's", []string{"--http-tls-cert", certFile, "--http-tls-key", certFile}, "--http-tls-cert/--http-tls-key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var errb bytes.Buffer
			args := append(append([]string{"server"}, serverArgs(filepath.Join(dir, "data"))...), tc.args...)
			if code := run(args, nil, io.Discard, &errb); code != 2 || !strings.Contains(errb.String(), tc.want) {
				t.Fatalf("exit %d, stderr %q; want 2 and %q", code, errb.String(), tc.want)
			}
		})
	}
}

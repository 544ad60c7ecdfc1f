package main

import (
	"bytes"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
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

package httpapi

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/strata-log/strata/ingest/broker"
	"github.com/strata-log/strata/ingest/kafka"
	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/tier/objstore/objstoretest"
)

const testUsers = "# users\nalice:correct horse\nbob:b:ob\n"

// authServer serves a real broker's routes, plus a route that echoes the request's principal
// (as strata server composes /v1/cost beside them), behind Authenticate with the SASL users of
// testUsers. It returns the server, its metrics registry and its log.
func authServer(t *testing.T, n *node, openMetrics, useTLS bool) (*httptest.Server, *prometheus.Registry, *objstoretest.SyncBuffer) {
	t.Helper()
	creds, err := kafka.ParseCredentials(strings.NewReader(testUsers), 0)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	h, err := Handler(Config{Producer: n, Topics: n.admin, Gatherer: reg})
	if err != nil {
		t.Fatal(err)
	}
	routes := http.NewServeMux()
	routes.HandleFunc("GET /v1/whoami", func(w http.ResponseWriter, r *http.Request) {
		p, ok := Principal(r.Context())
		fmt.Fprintf(w, "%s %v", p, ok)
	})
	routes.Handle("/", h)
	var logs objstoretest.SyncBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	authed, err := Authenticate(routes, AuthConfig{Users: creds, OpenMetrics: openMetrics, Registerer: reg, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	s := httptest.NewUnstartedServer(authed)
	if useTLS {
		s.StartTLS()
	} else {
		s.Start()
	}
	t.Cleanup(s.Close)
	return s, reg, &logs
}

// do sends a request with Basic credentials user:password (none when user is "-").
func do(t *testing.T, s *httptest.Server, method, path, user, password, body string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, s.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if user != "-" {
		req.SetBasicAuth(user, password)
	}
	resp, err := s.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestAuthIngest(t *testing.T) {
	n := startBroker(t)
	s, reg, logs := authServer(t, n, false, false)
	const line = `{"msg":"hello"}` + "\n"

	for _, tc := range []struct {
		name, user, password string
		reason               string
	}{
		{"no credentials", "-", "", "missing"},
		{"empty user", "", "correct horse", "missing"},
		{"wrong password", "alice", "correct horse!", "invalid"},
		{"unknown user", "mallory", "correct horse", "invalid"},
		{"another user's password", "bob", "correct horse", "invalid"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := objstoretest.MetricValue(t, reg, "strata_http_auth_failures_total", tc.reason)
			resp, body := do(t, s, http.MethodPost, "/v1/topics/secret/records", tc.user, tc.password, line)
			if resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("status %d, want 401: %s", resp.StatusCode, body)
			}
			if got := resp.Header.Get("WWW-Authenticate"); got != `Basic realm="strata"` {
				t.Errorf("WWW-Authenticate %q", got)
			}
			if got := objstoretest.MetricValue(t, reg, "strata_http_auth_failures_total", tc.reason); got != before+1 {
				t.Errorf("%s failures %v, want %v", tc.reason, got, before+1)
			}
		})
	}
	// Nothing was written: the topic was never even created.
	if _, err := n.admin.Topic(context.Background(), "secret"); broker.Code(err) == 0 {
		t.Fatal("topic exists after only refused posts")
	}
	if strings.Contains(logs.String(), "correct horse") {
		t.Fatalf("a password was logged:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "user=mallory") {
		t.Errorf("failed attempt not logged:\n%s", logs.String())
	}

	// The right password of either user writes, and nothing else did.
	for _, u := range [][2]string{{"alice", "correct horse"}, {"bob", "b:ob"}} {
		resp, body := do(t, s, http.MethodPost, "/v1/topics/secret/records", u[0], u[1], line)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: status %d: %s", u[0], resp.StatusCode, body)
		}
	}
	_, values := readAll(t, n.Broker, metadata.TopicPartition{Topic: "secret"})
	if len(values) != 2 {
		t.Fatalf("stored %d records %q, want the 2 authenticated posts'", len(values), values)
	}
}

func TestAuthRoutes(t *testing.T) {
	n := startBroker(t)
	for _, open := range []bool{false, true} {
		t.Run(fmt.Sprintf("open metrics %v", open), func(t *testing.T) {
			s, _, _ := authServer(t, n, open, false)
			for _, tc := range []struct {
				path     string
				openCode int // without credentials
			}{
				{"/healthz", 200},
				{"/readyz", 200},
				{"/metrics", map[bool]int{false: 401, true: 200}[open]},
				{"/debug/pprof/", map[bool]int{false: 401, true: 200}[open]},
				{"/debug/pprof/cmdline", map[bool]int{false: 401, true: 200}[open]},
				{"/v1/whoami", 401},
				{"/nothing/here", 401},
				{"/x/../healthz", 401}, // an unclean path is matched as sent
			} {
				resp, body := do(t, s, http.MethodGet, tc.path, "-", "", "")
				if resp.StatusCode != tc.openCode {
					t.Errorf("GET %s without credentials: %d, want %d: %s", tc.path, resp.StatusCode, tc.openCode, body)
				}
				if tc.path == "/nothing/here" || tc.path == "/x/../healthz" {
					continue
				}
				resp, body = do(t, s, http.MethodGet, tc.path, "alice", "correct horse", "")
				if resp.StatusCode != 200 {
					t.Errorf("GET %s as alice: %d: %s", tc.path, resp.StatusCode, body)
				}
			}
		})
	}
}

// TestAuthPrincipal: a handler behind Authenticate sees the principal; an open route sees none.
func TestAuthPrincipal(t *testing.T) {
	n := startBroker(t)
	s, _, _ := authServer(t, n, false, true) // and over TLS
	if _, body := do(t, s, http.MethodGet, "/v1/whoami", "bob", "b:ob", ""); body != "User:bob true" {
		t.Errorf("principal %q, want User:bob", body)
	}
	if p, ok := Principal(context.Background()); ok || p != "" {
		t.Errorf("a bare context has principal %q", p)
	}
	// Without users nothing is wrapped.
	h := http.NewServeMux()
	if got, err := Authenticate(h, AuthConfig{}); err != nil || got != http.Handler(h) {
		t.Errorf("Authenticate without users: %v, %v", got, err)
	}
}

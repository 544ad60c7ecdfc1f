package main

import (
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

// TestConsoleMounted: `strata server` with SASL users and HTTPS serves the console at / and its
// API behind the same authentication as every route, with the node's real parts behind it (the
// file object store answers the health probe, the broker leads a topic created through the API).
func TestConsoleMounted(t *testing.T) {
	dir := t.TempDir()
	_, certFile, keyFile, pool := writeTestCerts(t, dir)
	p := startStrata(t, append(serverArgs(filepath.Join(dir, "data")), "--sasl-users", writeUsers(t, dir),
		"--http-tls-cert", certFile, "--http-tls-key", keyFile)...)
	cl := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	base := "https://" + p.http
	call := func(method, path, user, body string) (int, string) {
		t.Helper()
		req, err := http.NewRequest(method, base+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if user != "" {
			req.SetBasicAuth(user, "hunter2")
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := cl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, path := range []string{"/", "/console/app.js", "/v1/cluster", "/v1/topics"} {
		if code, _ := call("GET", path, "", ""); code != 401 {
			t.Errorf("GET %s without credentials: %d", path, code)
		}
	}
	if code, _ := call("POST", "/v1/topics", "", `{"name":"c"}`); code != 401 {
		t.Errorf("create without credentials: %d", code)
	}
	if code, body := call("GET", "/", "bob", ""); code != 200 || !strings.Contains(body, "<title>Strata console</title>") {
		t.Fatalf("GET /: %d %.200s", code, body)
	}
	code, body := call("GET", "/v1/cluster", "bob", "")
	var c struct {
		NodeID      int32 `json:"node_id"`
		Nodes       []struct{ Version string }
		ObjectStore struct{ OK, Known bool } `json:"object_store"`
		Metadata    struct{ OK bool }
	}
	if err := json.Unmarshal([]byte(body), &c); code != 200 || err != nil {
		t.Fatalf("GET /v1/cluster: %d %v %s", code, err, body)
	}
	if c.NodeID != 1 || len(c.Nodes) != 1 || c.Nodes[0].Version != version || !c.ObjectStore.OK || !c.ObjectStore.Known || !c.Metadata.OK {
		t.Fatalf("cluster: %s", body)
	}
	if code, body := call("POST", "/v1/topics", "bob", `{"name":"c","partitions":2}`); code != 201 {
		t.Fatalf("create: %d %s", code, body)
	}
	code, body = call("GET", "/v1/topics/c/partitions", "bob", "")
	var ps []struct {
		Leader int32  `json:"leader"`
		Error  string `json:"error"`
	}
	if err := json.Unmarshal([]byte(body), &ps); code != 200 || err != nil || len(ps) != 2 || ps[0].Leader != 1 || ps[1].Leader != 1 {
		t.Fatalf("partitions: %d %v %s", code, err, body)
	}
	// The NDJSON ingest beside it still answers on its own path.
	if code, body := call("POST", "/v1/topics/c/records", "bob", `{"n":1}`+"\n"); code != 200 {
		t.Fatalf("ingest: %d %s", code, body)
	}
}

package main

import (
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"
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

// TestConsoleAcrossNodesHTTPS: two nodes with one certificate and SASL users; node 1's console
// answers for node 2's partitions by asking node 2 over HTTPS with the caller's credentials.
func TestConsoleAcrossNodesHTTPS(t *testing.T) {
	dir := t.TempDir()
	_, certFile, keyFile, pool := writeTestCerts(t, dir)
	users := writeUsers(t, dir)
	c := startCluster(t, 1, 0)
	for id := 1; id <= 2; id++ {
		c.add(id).extraArgs = []string{"--sasl-users", users, "--http-tls-cert", certFile, "--http-tls-key", keyFile}
		c.start(id)
	}
	cl := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	get := func(node int, path string, out any) int {
		t.Helper()
		req, _ := http.NewRequest("GET", "https://"+c.node(node).http+path, nil)
		req.SetBasicAuth("bob", "hunter2")
		resp, err := cl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode == 200 && out != nil {
			if err := json.Unmarshal(b, out); err != nil {
				t.Fatalf("%s: %v in %s", path, err, b)
			}
		}
		return resp.StatusCode
	}
	req, _ := http.NewRequest("POST", "https://"+c.node(1).http+"/v1/topics", strings.NewReader(`{"name":"both","partitions":8}`))
	req.SetBasicAuth("bob", "hunter2")
	req.Header.Set("Content-Type", "application/json")
	resp, err := cl.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 201 {
		t.Fatalf("create: %d", resp.StatusCode)
	}
	type view struct {
		Leader        int32  `json:"leader"`
		HighWatermark int64  `json:"high_watermark"`
		Error         string `json:"error"`
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		var ps []view
		code := get(1, "/v1/topics/both/partitions", &ps)
		led := map[int32]int{}
		var errs []string
		for _, p := range ps {
			if p.Error != "" {
				errs = append(errs, p.Error)
				continue
			}
			if p.HighWatermark >= 0 {
				led[p.Leader]++
			}
		}
		if code == 200 && len(ps) == 8 && led[1] > 0 && led[2] > 0 && led[1]+led[2] == 8 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("node 1 never answered for both nodes' partitions: %d %+v %v", code, ps, errs)
		}
		time.Sleep(200 * time.Millisecond)
	}
	var cv struct {
		Nodes []struct {
			Version      string `json:"version"`
			VersionError string `json:"version_error"`
		}
	}
	if code := get(2, "/v1/cluster", &cv); code != 200 || len(cv.Nodes) != 2 || cv.Nodes[0].Version != version || cv.Nodes[1].Version != version {
		t.Fatalf("cluster from node 2: %d %+v", code, cv)
	}
}

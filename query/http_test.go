package query

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/ipc"
)

func TestHTTP(t *testing.T) {
	f := newFixture(t, Config{MaxConcurrent: 1, MaxRows: 1000})
	mux := http.NewServeMux()
	f.e.Register(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	do := func(method, path, body, accept string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}

	// A search with a histogram runs two queries, one after the other, within one slot.
	q := url.Values{"topic": {"logs"}, "where": {"even=true"}, "limit": {"3"}, "histogram": {"1s"}}
	resp, body := do("GET", "/v1/search?"+q.Encode(), "", "")
	lines := strings.Split(strings.TrimSpace(body), "\n")
	if resp.StatusCode != 200 || len(lines) != 4 || !strings.Contains(lines[0], `"offset":148`) ||
		lines[3] != `{"bucket":"1s","histogram":[{"start":"2026-01-01T00:00:00Z","count":150}]}` {
		t.Fatalf("search: %s\n%s", resp.Status, body)
	}
	if st := resp.Trailer.Get(TrailerStats); !strings.Contains(st, `"hot":{"rows":100`) {
		t.Fatalf("search stats %q", st)
	}

	resp, body = do("POST", "/v1/sql", `SELECT partition, count(*) AS n FROM logs GROUP BY 1 ORDER BY 1`, "text/csv")
	if resp.StatusCode != 200 || body != "partition,n\n0,150\n1,150\n" || resp.Header.Get("Content-Type") != "text/csv; charset=utf-8" {
		t.Fatalf("csv: %s %q", resp.Status, body)
	}
	resp, body = do("POST", "/v1/sql", `SELECT "offset", timestamp, value FROM logs WHERE partition = 0`, "application/vnd.apache.arrow.stream")
	rd, err := ipc.NewReader(bytes.NewReader([]byte(body)))
	if resp.StatusCode != 200 || err != nil {
		t.Fatalf("arrow: %s %v", resp.Status, err)
	}
	n := 0
	for rd.Next() {
		n += int(rd.RecordBatch().NumRows())
	}
	if n != 150 || rd.Schema().String() != "schema:\n  fields: 3\n    - offset: type=int64, nullable\n    - timestamp: type=timestamp[ms, tz=UTC], nullable\n    - value: type=utf8, nullable" {
		t.Fatalf("arrow: %d rows, %s", n, rd.Schema())
	}
	rd.Release()

	for _, tc := range []struct {
		method, path, body string
		status             int
		msg                string
	}{
		{"POST", "/v1/sql", "SELEC 1", 400, "syntax error"},
		{"POST", "/v1/sql", "", 400, "must hold a statement"},
		{"POST", "/v1/sql", "SELECT * FROM nosuch", 404, "nosuch"},
		{"POST", "/v1/sql?format=xml", "SELECT 1", 400, "format"},
		{"GET", "/v1/search?q=x", "", 400, "topic is required"},
		{"GET", "/v1/search?topic=nosuch", "", 404, "nosuch"},
	} {
		resp, body := do(tc.method, tc.path, tc.body, "")
		if resp.StatusCode != tc.status || !strings.Contains(body, tc.msg) {
			t.Errorf("%s %s %q: %s %s, want %d and %q", tc.method, tc.path, tc.body, resp.Status, body, tc.status, tc.msg)
		}
	}
	// Past the row limit after the first rows: the status is sent, the error ends the stream.
	resp, body = do("POST", "/v1/sql", "SELECT * FROM range(5000)", "")
	if resp.StatusCode != 200 || !strings.HasSuffix(body, "more than 1000 rows (add a LIMIT, or narrow the query)\"}\n") ||
		!strings.Contains(resp.Trailer.Get(TrailerError), "more than 1000 rows") {
		t.Fatalf("row limit: %s %q… %q", resp.Status, body[:50], resp.Trailer)
	}
}

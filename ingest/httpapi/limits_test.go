package httpapi

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/strata-log/strata/ingest/broker"
	"github.com/strata-log/strata/metadata"
)

// A body of more records than MaxRecordsPerRequest is refused whole with 413, however few bytes it
// has: four concurrent 8 MiB bodies of tiny records once took a node to 2 GB.
func TestIngestRecordLimit(t *testing.T) {
	b := startBroker(t)
	h, err := Handler(Config{Producer: b, Topics: b.admin, MaxRecordsPerRequest: 100})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	code, out := post(t, srv.URL+"/v1/topics/many/records", strings.Repeat(`"x"`+"\n", 101))
	if code != http.StatusRequestEntityTooLarge || !strings.Contains(string(out), "more than 100") {
		t.Fatalf("101 records: status %d %s, want 413 naming the limit", code, out)
	}
	if _, err := b.admin.Topic(context.Background(), "many"); broker.Code(err) == 0 {
		t.Fatal("topic exists after a refused body")
	}
	if code, out := post(t, srv.URL+"/v1/topics/many/records", strings.Repeat(`"x"`+"\n", 100)+"\n\n"); code != http.StatusOK {
		t.Fatalf("100 records and blank lines: status %d %s, want 200", code, out)
	}
	keys, _ := readAll(t, b.Broker, metadata.TopicPartition{Topic: "many"})
	if len(keys) != 100 {
		t.Fatalf("%d records stored, want 100", len(keys))
	}
}

// Requests beyond MaxConcurrent wait for a slot; one that cannot get one within its timeout answers
// 503 with Retry-After and writes nothing.
func TestIngestConcurrencyLimit(t *testing.T) {
	b := startBroker(t)
	cfg := Config{Producer: b, Topics: b.admin, MaxConcurrent: 1, Timeout: 300 * time.Millisecond}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	ing := &ingester{cfg: cfg, slots: make(chan struct{}, cfg.MaxConcurrent)}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/topics/{topic}/records", ing.serve)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	// The first request holds the only slot while its body trickles in.
	pr, pw := newSlowBody()
	var wg sync.WaitGroup
	wg.Add(1)
	var firstCode int
	go func() {
		defer wg.Done()
		resp, err := http.Post(srv.URL+"/v1/topics/slots/records", "application/x-ndjson", pr)
		if err == nil {
			firstCode = resp.StatusCode
			resp.Body.Close()
		}
	}()
	pw.write(`{"v":1}` + "\n")
	for deadline := time.Now().Add(10 * time.Second); len(ing.slots) == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the first request never took the slot")
		}
	}
	resp, err := http.Post(srv.URL+"/v1/topics/slots/records", "application/x-ndjson", strings.NewReader(`{"v":2}`+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("second request while the slot is held: status %d, Retry-After %q; want 503 with Retry-After",
			resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	pw.close()
	wg.Wait()
	if firstCode == 0 {
		t.Fatal("the first request got no answer")
	}
	// The slot is free again.
	if code, out := post(t, srv.URL+"/v1/topics/slots/records", `{"v":3}`+"\n"); code != http.StatusOK {
		t.Fatalf("after the slot freed: status %d %s", code, out)
	}
}

// slowBody is a request body written piece by piece by the test.
type slowBody struct{ ch chan string }

func newSlowBody() (*slowReader, *slowBody) {
	ch := make(chan string, 4)
	return &slowReader{ch: ch}, &slowBody{ch: ch}
}

func (s *slowBody) write(v string) { s.ch <- v }
func (s *slowBody) close()         { close(s.ch) }

type slowReader struct {
	ch   chan string
	rest string
}

func (r *slowReader) Read(p []byte) (int, error) {
	if r.rest == "" {
		v, ok := <-r.ch
		if !ok {
			return 0, io.EOF
		}
		r.rest = v
	}
	n := copy(p, r.rest)
	r.rest = r.rest[n:]
	return n, nil
}

// Concurrent posts to a topic that does not exist yet all succeed: one creates it, and the others,
// which find it created but not led yet, wait for this node to take its partitions.
func TestConcurrentPostsAutoCreate(t *testing.T) {
	b := startBroker(t)
	srv := newServer(t, b, 0)
	for round := range 3 {
		topic := fmt.Sprintf("new-%d", round)
		codes := make([]int, 4)
		var wg sync.WaitGroup
		for i := range codes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				codes[i], _ = post(t, srv.URL+"/v1/topics/"+topic+"/records", strings.Repeat(`"x"`+"\n", 50))
			}()
		}
		wg.Wait()
		for i, c := range codes {
			if c != http.StatusOK {
				t.Fatalf("round %d: post %d answered %d, want 200", round, i, c)
			}
		}
	}
}

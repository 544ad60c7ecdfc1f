package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strata-log/strata/compaction"
	"github.com/strata-log/strata/ingest/httpapi"
	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/metadata/natsmeta"
	"github.com/strata-log/strata/tier"
	"github.com/strata-log/strata/tier/objstore/objstoretest"
)

// strata compact runs a node's merge passes now: the object-durability flushes' shared ranges are
// merged into per-partition objects without waiting for the next pass, every record reads back,
// and the answer counts the merges.
func TestCompactNow(t *testing.T) {
	c := startCluster(t, 1, 0)
	n := c.add(1)
	n.extraArgs = []string{"--compaction-interval", "1h", "--sweep-interval", "0"}
	c.start(1)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const topic, parts = "compact-now", 3
	c.createTopic(t, ctx, topic, parts, map[string]*string{"strata.durability": strp("object")})
	cl := c.client(t, kgo.DefaultProduceTopic(topic), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	const rounds, perRound = 5, 60
	for round := range rounds { // each acked round is at least one flush: a range per partition
		for i := range perRound {
			r := &kgo.Record{Partition: int32(i % parts), Value: []byte(fmt.Sprintf("r%d-%d", round, i))}
			cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
				if err != nil {
					t.Errorf("produce: %v", err)
				}
			})
		}
		if err := cl.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	store, err := natsmeta.Open(ctx, natsmeta.Config{URLs: c.nats.ClientURLs()})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	sharedRanges := func() (ranges, segs int) {
		for p := range int32(parts) {
			cat, err := store.GetCatalog(ctx, metadata.TopicPartition{Topic: topic, Partition: p})
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range cat.Segments {
				segs++
				if tier.IsSharedKey(s.Key) {
					ranges++
				}
			}
		}
		return ranges, segs
	}
	before, _ := sharedRanges()
	if before < parts*4 {
		t.Fatalf("%d shared ranges before the passes; want at least 4 per partition", before)
	}

	var out, errb bytes.Buffer
	if code := run([]string{"compact", "--http-addr", n.http, "--json"}, nil, &out, &errb); code != 0 {
		t.Fatalf("strata compact: exit %d: %s", code, errb.String())
	}
	var r compaction.Result
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatalf("answer %q: %v", out.String(), err)
	}
	after, segs := sharedRanges()
	if r.Passes < 1 || r.Merges < parts || r.Inputs != before || r.Deferred != 0 || after != 0 || segs != r.Merges {
		t.Fatalf("answer %+v; %d shared ranges before, %d after, %d segments", r, before, after, segs)
	}
	got := consumeAll(t, ctx, c, topic)
	if len(got) != rounds*perRound {
		t.Fatalf("read %d distinct records back, want %d", len(got), rounds*perRound)
	}
	for v, k := range got {
		if k != 1 {
			t.Fatalf("record %q read %d times", v, k)
		}
	}

	// Nothing left: a second run merges nothing and says so in a line.
	out.Reset()
	if code := run([]string{"compact", "--http-addr", n.http}, nil, &out, &errb); code != 0 ||
		!strings.HasPrefix(out.String(), "1 pass over") || !strings.Contains(out.String(), " 0 merges of 0 segments") {
		t.Fatalf("second strata compact: exit %d, %q %s", code, out.String(), errb.String())
	}
}

// POST /v1/compaction on a node whose merges are off, or by a principal without ALTER on the
// cluster, is refused with a clear error; the CLI says the flags it got wrong.
func TestCompactRefused(t *testing.T) {
	for _, tc := range []struct {
		name   string
		authz  httpapi.Authorizer
		status int
		want   string
	}{
		{"merges off", nil, http.StatusConflict, "merges are off"},
		{"no ALTER", refuseAll{}, http.StatusForbidden, "ALTER on the cluster"},
	} {
		h := compactHandler{authz: tc.authz, log: objstoretest.QuietLogger()}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/v1/compaction", nil))
		if rec.Code != tc.status || !strings.Contains(rec.Body.String(), tc.want) {
			t.Errorf("%s: %d %s", tc.name, rec.Code, rec.Body.String())
		}
		srv := httptest.NewServer(h)
		var out, errb bytes.Buffer
		if code := run([]string{"compact", "--http-addr", strings.TrimPrefix(srv.URL, "http://")}, nil, &out, &errb); code != 1 ||
			!strings.Contains(errb.String(), tc.want) {
			t.Errorf("%s: strata compact exit %d, stderr %q", tc.name, code, errb.String())
		}
		srv.Close()
	}
	for _, args := range [][]string{{"--timeout", "0"}, {"--http-addr", "nohost"}, {"extra"}} {
		var out, errb bytes.Buffer
		if code := run(append([]string{"compact"}, args...), nil, &out, &errb); code != 2 {
			t.Errorf("strata compact %v: exit %d, want 2 (usage): %s", args, code, errb.String())
		}
	}
}

// refuseAll is an authorizer that refuses everything.
type refuseAll struct{}

func (refuseAll) Authorize(string, string, metadata.ACLOperation, metadata.ResourceType, string) bool {
	return false
}

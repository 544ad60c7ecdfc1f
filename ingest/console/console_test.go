package console

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-log/strata/ingest/broker"
	"github.com/strata-log/strata/ingest/group"
	"github.com/strata-log/strata/ingest/httpapi"
	"github.com/strata-log/strata/ingest/topics"
	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/metadata/natsmeta/natsmetatest"
	"github.com/strata-log/strata/tier"
	"github.com/strata-log/strata/tier/hotlog"
	"github.com/strata-log/strata/tier/objstore"
	"github.com/strata-log/strata/tier/objstore/objstoretest"
	"github.com/strata-log/strata/tier/segment/segmenttest"
)

// testNode is one real node: a broker on a hot log in a temp dir, tiering to bucket, on a shared
// embedded NATS store, with its topic admin, group coordinator and the console on a real HTTP
// listener registered as the node's HTTP address (so peers can ask it).
type testNode struct {
	b      *broker.Broker
	admin  *topics.Admin
	groups *group.Coordinator
	url    string
}

func startNode(t *testing.T, id int32, st metadata.Store, bucket objstore.Bucket, auth httpapi.PasswordChecker) *testNode {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var b *broker.Broker
	up, err := tier.NewUploader(tier.Config{Bucket: bucket, Store: st, PollInterval: 20 * time.Millisecond,
		CheckInterval: 50 * time.Millisecond, OnFenced: func(tp metadata.TopicPartition) { b.Fenced(tp) }})
	if err != nil {
		t.Fatal(err)
	}
	rd, err := tier.NewReader(tier.ReaderConfig{Bucket: bucket, Store: st})
	if err != nil {
		t.Fatal(err)
	}
	dir, err := hotlog.OpenDir(t.TempDir(), hotlog.Config{})
	if err != nil {
		t.Fatal(err)
	}
	b, err = broker.New(broker.Config{NodeID: id, KafkaAddr: "127.0.0.1:9", HTTPAddr: ln.Addr().String(), HotLog: dir, Store: st,
		Tiering: up, TieredReader: rd})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := b.Start(ctx); err != nil {
		t.Fatal(err)
	}
	admin, err := topics.New(topics.Config{NodeID: id, Store: st, Node: b})
	if err != nil {
		t.Fatal(err)
	}
	groups, err := group.New(group.Config{Store: st, NodeID: id, IsCoordinator: b.IsCoordinator})
	if err != nil {
		t.Fatal(err)
	}
	con, err := New(Config{Broker: b, Topics: admin, Groups: groups, Catalogs: st, Version: fmt.Sprintf("test-%d", id),
		ObjectStore: func(ctx context.Context) error { _, err := bucket.Head(ctx, "probe"); return ignoreNotFound(err) },
		RequireAuth: auth != nil, CatalogTTL: time.Hour}) // only the watch may refresh a catalog read
	if err != nil {
		t.Fatal(err)
	}
	h, err := httpapi.Authenticate(con.Handler(), httpapi.AuthConfig{Users: auth})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(func() {
		srv.Close()
		con.Close()
		groups.Close()
		b.Close()
		up.Close()
		rd.Close()
		dir.Close()
	})
	return &testNode{b: b, admin: admin, groups: groups, url: srv.URL}
}

func ignoreNotFound(err error) error {
	if err != nil && strings.Contains(err.Error(), "not found") {
		return nil
	}
	return err
}

// do sends a request and decodes a JSON answer into out (when not nil), returning the status and
// the error message of an error answer.
func do(t *testing.T, method, url, body string, out any) (int, string) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("%s %s: Content-Type %q, body %s", method, url, ct, raw)
	}
	if resp.StatusCode >= 300 {
		var eb errorBody
		if err := json.Unmarshal(raw, &eb); err != nil || eb.Error == "" {
			t.Fatalf("%s %s: %d without an error message: %s", method, url, resp.StatusCode, raw)
		}
		return resp.StatusCode, eb.Error
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s %s: %v in %s", method, url, err, raw)
		}
	}
	return resp.StatusCode, ""
}

func fileBucket(t *testing.T) objstore.Bucket {
	b, err := objstore.NewFile(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// withHeaders encodes records with one header each as a batch's raw records.
func withHeaders(keys, values []string) []byte {
	var out []byte
	for i := range values {
		r := kmsg.Record{OffsetDelta: int32(i), TimestampDelta64: int64(i), Value: []byte(values[i]),
			Headers: []kmsg.Header{{Key: "trace", Value: []byte(fmt.Sprint("t", i))}}}
		if keys[i] != "" {
			r.Key = []byte(keys[i])
		}
		enc := r.AppendTo(nil)
		r.Length = int32(len(enc) - 1) // records here are short: the length's varint takes one byte
		out = r.AppendTo(out)
	}
	return out
}

func TestTopicsCreateAlterDelete(t *testing.T) {
	n := startNode(t, 1, natsmetatest.Store(t), fileBucket(t), nil)
	var created TopicSummary
	if st, msg := do(t, "POST", n.url+"/v1/topics", `{"name":"orders","partitions":3,"configs":{"retention.ms":"3600000"}}`, &created); st != 201 {
		t.Fatalf("create: %d %s", st, msg)
	}
	if created.Name != "orders" || created.Partitions != 3 || created.Configs["retention.ms"] != "3600000" {
		t.Fatalf("created %+v", created)
	}
	bad := []struct {
		name, method, path, body string
		status                   int
		msg                      string
	}{
		{"exists", "POST", "/v1/topics", `{"name":"orders"}`, 409, "TOPIC_ALREADY_EXISTS"},
		{"bad name", "POST", "/v1/topics", `{"name":"no/slash"}`, 400, "INVALID_TOPIC"},
		{"reserved name", "POST", "/v1/topics", `{"name":"__x"}`, 400, "INVALID_TOPIC"},
		{"no name", "POST", "/v1/topics", `{"partitions":1}`, 400, "name is required"},
		{"zero partitions", "POST", "/v1/topics", `{"name":"z","partitions":0}`, 400, "partitions 0"},
		{"unknown config", "POST", "/v1/topics", `{"name":"z","configs":{"colour":"red"}}`, 400, "INVALID_CONFIG"},
		{"bad config value", "POST", "/v1/topics", `{"name":"z","configs":{"retention.ms":"soon"}}`, 400, "INVALID_CONFIG"},
		{"bad JSON", "POST", "/v1/topics", `{"name":`, 400, "bad JSON"},
		{"unknown field", "POST", "/v1/topics", `{"name":"z","replicas":3}`, 400, "unknown field"},
		{"two values", "POST", "/v1/topics", `{"name":"z"} {"name":"y"}`, 400, "more than one"},
		{"unknown topic", "GET", "/v1/topics/nope", "", 404, "UNKNOWN_TOPIC"},
		{"invalid topic in path", "GET", "/v1/topics/a%20b", "", 400, "a b"},
		{"alter unknown topic", "PATCH", "/v1/topics/nope/configs", `{"configs":{"retention.ms":"1"}}`, 404, "UNKNOWN_TOPIC"},
		{"alter nothing", "PATCH", "/v1/topics/orders/configs", `{"configs":{}}`, 400, "nothing to change"},
		{"alter bad value", "PATCH", "/v1/topics/orders/configs", `{"configs":{"segment.ms":"x"}}`, 400, "segment.ms"},
		{"delete unknown", "DELETE", "/v1/topics/nope", "", 404, "UNKNOWN_TOPIC"},
		{"partitions of unknown", "GET", "/v1/topics/nope/partitions", "", 404, "UNKNOWN_TOPIC"},
	}
	for _, c := range bad {
		t.Run(c.name, func(t *testing.T) {
			st, msg := do(t, c.method, n.url+c.path, c.body, nil)
			if st != c.status || !strings.Contains(msg, c.msg) {
				t.Fatalf("%d %q, want %d containing %q", st, msg, c.status, c.msg)
			}
		})
	}
	// Nothing was created by the refused requests.
	var list []TopicSummary
	do(t, "GET", n.url+"/v1/topics", "", &list)
	if len(list) != 1 || list[0].Name != "orders" {
		t.Fatalf("topics after refusals: %+v", list)
	}
	do(t, "GET", n.url+"/v1/topics?q=RDE", "", &list)
	if len(list) != 1 {
		t.Fatalf("search RDE: %+v", list)
	}
	do(t, "GET", n.url+"/v1/topics?q=zzz", "", &list)
	if len(list) != 0 {
		t.Fatalf("search zzz: %+v", list)
	}

	// Set one config and reset another to its default.
	var v TopicView
	if st, msg := do(t, "PATCH", n.url+"/v1/topics/orders/configs", `{"configs":{"segment.ms":"60000","retention.ms":null}}`, &v); st != 200 {
		t.Fatalf("alter: %d %s", st, msg)
	}
	if v.Configs["segment.ms"] != "60000" || v.Configs["retention.ms"] != "" {
		t.Fatalf("configs after alter: %v", v.Configs)
	}
	for _, c := range v.AllConfigs {
		if c.Name == "retention.ms" && (!c.IsDefault || c.Value != "604800000") {
			t.Fatalf("retention.ms after reset: %+v", c)
		}
	}

	if st, msg := do(t, "DELETE", n.url+"/v1/topics/orders", "", nil); st != 200 {
		t.Fatalf("delete: %d %s", st, msg)
	}
	if st, _ := do(t, "GET", n.url+"/v1/topics/orders", "", nil); st != 404 {
		t.Fatalf("deleted topic answers %d", st)
	}
}

// Mutations need a principal when auth is on, a JSON body, and no foreign Origin.
func TestMutationGuards(t *testing.T) {
	st := natsmetatest.Store(t)
	n := startNode(t, 1, st, fileBucket(t), nil)
	req, _ := http.NewRequest("POST", n.url+"/v1/topics", strings.NewReader(`{"name":"x"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Origin", "https://evil.example")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 403 {
		t.Fatalf("foreign origin: %d", resp.StatusCode)
	}
	resp, err = http.Post(n.url+"/v1/topics", "text/plain", strings.NewReader(`{"name":"x"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 415 {
		t.Fatalf("text/plain body: %d", resp.StatusCode)
	}
	if _, err := n.admin.Topic(context.Background(), "x"); err == nil {
		t.Fatal("a refused request created the topic")
	}

	// RequireAuth without a principal in the context (a listener that does not authenticate).
	con, err := New(Config{Broker: n.b, Topics: n.admin, Groups: n.groups, Catalogs: st, RequireAuth: true})
	if err != nil {
		t.Fatal(err)
	}
	defer con.Close()
	srv := httptest.NewServer(con.Handler())
	defer srv.Close()
	if code, msg := do(t, "POST", srv.URL+"/v1/topics", `{"name":"x"}`, nil); code != 401 || !strings.Contains(msg, "authentication") {
		t.Fatalf("no principal: %d %s", code, msg)
	}
	if code, _ := do(t, "GET", srv.URL+"/v1/topics", "", nil); code != 200 {
		t.Fatalf("read without principal: %d", code)
	}
}

type users map[string]string

func (u users) CheckPassword(user, pw string) bool { p, ok := u[user]; return ok && p == pw }

// Behind httpapi.Authenticate: 401 without credentials, mutations with them.
func TestAuthenticated(t *testing.T) {
	n := startNode(t, 1, natsmetatest.Store(t), fileBucket(t), users{"ada": "pw"})
	if code, _ := do(t, "GET", n.url+"/v1/topics", "", nil); code != 401 {
		t.Fatalf("no credentials: %d", code)
	}
	req, _ := http.NewRequest("POST", n.url+"/v1/topics", strings.NewReader(`{"name":"x"}`))
	req.Header.Set("Content-Type", "application/json")
	req.SetBasicAuth("ada", "pw")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 201 {
		t.Fatalf("authenticated create: %d", resp.StatusCode)
	}
}

func TestRecords(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	n := startNode(t, 1, natsmetatest.Store(t), fileBucket(t), nil)
	if _, err := n.admin.CreateTopic(ctx, topics.Spec{Name: "logs", Partitions: 2, ReplicationFactor: -1}); err != nil {
		t.Fatal(err)
	}
	tp := metadata.TopicPartition{Topic: "logs"}
	base := time.Now().Add(-time.Hour).UnixMilli()
	vals := []string{`{"n":0}`, `{"n":1}`, "two", "three"}
	batches := [][]byte{
		segmenttest.Batch{FirstTimestamp: base, Values: [][]byte{[]byte(vals[0]), []byte(vals[1])}, Keys: [][]byte{[]byte("k0"), nil}}.Encode(),
		segmenttest.Batch{FirstTimestamp: base + 60_000, Values: make([][]byte, 2), RawRecords: withHeaders([]string{"k2", ""}, vals[2:]), Codec: 4}.Encode(),
	}
	for _, bt := range batches {
		r, err := n.b.Append(ctx, tp, bt)
		if err != nil {
			t.Fatal(err)
		}
		if err := n.b.WaitDurable(ctx, tp, r.Epoch, r.LastOffset+1); err != nil {
			t.Fatal(err)
		}
	}
	url := n.url + "/v1/topics/logs/partitions/0/records"
	var v RecordsView
	if code, msg := do(t, "GET", url+"?offset=0", "", &v); code != 200 {
		t.Fatalf("%d %s", code, msg)
	}
	if len(v.Records) != 4 || v.HighWatermark != 4 || v.NextOffset != 4 || v.Leader != 1 {
		t.Fatalf("view %+v", v)
	}
	for i, r := range v.Records {
		if r.Offset != int64(i) || string(r.Value) != vals[i] {
			t.Fatalf("record %d: %+v", i, r)
		}
	}
	if string(v.Records[0].Key) != "k0" || v.Records[1].Key != nil || string(v.Records[2].Key) != "k2" {
		t.Fatalf("keys: %q %q %q", v.Records[0].Key, v.Records[1].Key, v.Records[2].Key)
	}
	if h := v.Records[3].Headers; len(h) != 1 || h[0].Key != "trace" || string(h[0].Value) != "t1" {
		t.Fatalf("headers of the zstd batch's second record: %+v", h)
	}
	if v.Records[2].Timestamp != base+60_000 || v.Records[3].Timestamp != base+60_001 {
		t.Fatalf("timestamps %d %d", v.Records[2].Timestamp, v.Records[3].Timestamp)
	}
	// From inside a batch, a page of one, from a time, the newest, past the end.
	do(t, "GET", url+"?offset=1&max=1", "", &v)
	if len(v.Records) != 1 || v.Records[0].Offset != 1 || v.NextOffset != 2 {
		t.Fatalf("offset=1 max=1: %+v", v)
	}
	do(t, "GET", url+"?time="+fmt.Sprint(base+30_000), "", &v)
	if len(v.Records) != 2 || v.Records[0].Offset != 2 {
		t.Fatalf("time: %+v", v)
	}
	do(t, "GET", url+"?time="+time.UnixMilli(base+60_001).UTC().Format(time.RFC3339Nano), "", &v)
	if len(v.Records) != 1 || v.Records[0].Offset != 3 {
		t.Fatalf("RFC 3339 time: %+v", v)
	}
	do(t, "GET", url+"?max=2", "", &v)
	if len(v.Records) != 2 || v.Records[0].Offset != 2 {
		t.Fatalf("newest: %+v", v)
	}
	do(t, "GET", url+"?offset=99", "", &v)
	if len(v.Records) != 0 || v.NextOffset != 4 {
		t.Fatalf("past the end: %+v", v)
	}
	for _, c := range []struct {
		q      string
		status int
	}{
		{"?offset=-1", 400}, {"?offset=x", 400}, {"?max=0", 400}, {"?max=501", 400}, {"?time=yesterday", 400},
		{"?offset=1&time=5", 400}, {"?colour=red", 400},
	} {
		if code, msg := do(t, "GET", url+c.q, "", nil); code != c.status {
			t.Errorf("%s: %d %s, want %d", c.q, code, msg, c.status)
		}
	}
	if code, _ := do(t, "GET", n.url+"/v1/topics/logs/partitions/2/records", "", nil); code != 404 {
		t.Errorf("partition 2 of 2: %d", code)
	}
	if code, _ := do(t, "GET", n.url+"/v1/topics/logs/partitions/-1/records", "", nil); code != 400 {
		t.Errorf("partition -1: %d", code)
	}
	if code, _ := do(t, "GET", n.url+"/v1/topics/nope/partitions/0/records", "", nil); code != 404 {
		t.Errorf("unknown topic: %d", code)
	}
}

// Tiering to a real MinIO: the partition view shows the tiered end, object bytes and hot bytes,
// and the cluster view reports both dependencies healthy.
func TestPartitionsTieredOnMinIO(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	m := objstoretest.StartMinIO(t)
	bucket := m.Open(t, m.S3URL("console"))
	n := startNode(t, 1, natsmetatest.Store(t), bucket, nil)
	if _, err := n.admin.CreateTopic(ctx, topics.Spec{Name: "obj", Partitions: 2, ReplicationFactor: -1,
		Configs: map[string]string{"strata.durability": "object", "strata.flush.ms": "10"}}); err != nil {
		t.Fatal(err)
	}
	tp := metadata.TopicPartition{Topic: "obj", Partition: 1}
	// A first look caches the empty catalogs; the watch must drop them when segments register.
	var ps []PartitionView
	if code, msg := do(t, "GET", n.url+"/v1/topics/obj/partitions", "", &ps); code != 200 || ps[1].TieredEnd != -1 {
		t.Fatalf("before: %d %s %+v", code, msg, ps)
	}
	for i := 0; i < 3; i++ {
		r, err := n.b.Append(ctx, tp, segmenttest.Batch{FirstTimestamp: time.Now().UnixMilli(), Values: [][]byte{[]byte("a"), []byte("b")}}.Encode())
		if err != nil {
			t.Fatal(err)
		}
		if err := n.b.WaitDurable(ctx, tp, r.Epoch, r.LastOffset+1); err != nil {
			t.Fatal(err)
		}
	}
	for { // the watch reports the registrations a moment after they are acknowledged
		ps = nil
		if code, msg := do(t, "GET", n.url+"/v1/topics/obj/partitions", "", &ps); code != 200 {
			t.Fatalf("%d %s", code, msg)
		}
		if len(ps) == 2 && ps[1].TieredEnd == 6 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the tiered end never showed: %+v", ps)
		case <-time.After(20 * time.Millisecond):
		}
	}
	if len(ps) != 2 {
		t.Fatalf("%d partitions", len(ps))
	}
	p0, p1 := ps[0], ps[1]
	if p0.TieredEnd != -1 || p0.ObjectBytes != 0 || p0.HighWatermark != 0 || p0.Leader != 1 || p0.Epoch < 1 {
		t.Fatalf("empty partition: %+v", p0)
	}
	if p1.TieredEnd != 6 || p1.HighWatermark != 6 || p1.LogEnd != 6 || p1.ObjectBytes <= 0 || p1.ObjectSegments < 1 ||
		p1.HotBytes <= 0 || p1.LogStart != 0 || p1.Error != "" {
		t.Fatalf("tiered partition: %+v", p1)
	}
	var c ClusterView
	if code, msg := do(t, "GET", n.url+"/v1/cluster", "", &c); code != 200 {
		t.Fatalf("%d %s", code, msg)
	}
	if !c.Metadata.OK || !c.ObjectStore.OK || !c.ObjectStore.Known || len(c.Nodes) != 1 || c.Nodes[0].Led != 2 ||
		c.Nodes[0].Version != "test-1" || c.Topics != 1 || c.Partitions != 2 || c.Leaderless != 0 {
		t.Fatalf("cluster %+v", c)
	}
	// With MinIO down the cluster page says so instead of failing.
	m.Stop()
	do(t, "GET", n.url+"/v1/cluster", "", &c)
	if c.ObjectStore.OK || c.ObjectStore.Error == "" {
		t.Fatalf("object store down, reported %+v", c.ObjectStore)
	}
}

// Two nodes on one metadata store: each answers for the whole cluster, asking the other for its
// partitions' hot-log lines, records and groups.
func TestTwoNodesAnswerForTheCluster(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	st1 := natsmetatest.Store(t)
	bucket := fileBucket(t)
	n1 := startNode(t, 1, st1, bucket, nil)
	n2 := startNode(t, 2, st1, bucket, nil)
	n1.b.Trigger()
	if _, err := n1.admin.CreateTopic(ctx, topics.Spec{Name: "spread", Partitions: 8, ReplicationFactor: -1}); err != nil {
		t.Fatal(err)
	}
	n2.b.Trigger()
	// Wait until every partition has a leader and both nodes lead some.
	var ps []PartitionView
	for {
		ps = nil
		do(t, "GET", n1.url+"/v1/topics/spread/partitions", "", &ps)
		led := map[int32]int{}
		for _, p := range ps {
			if p.Error == "" {
				led[p.Leader]++
			}
		}
		if led[1]+led[2] == 8 && led[1] > 0 && led[2] > 0 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("partitions never spread over both nodes: %+v", ps)
		case <-time.After(100 * time.Millisecond):
		}
	}
	// Produce to a partition node 2 leads, then read it through node 1.
	var on2 metadata.TopicPartition
	for _, p := range ps {
		if p.Leader == 2 {
			on2 = metadata.TopicPartition{Topic: "spread", Partition: p.Partition}
		}
	}
	r, err := n2.b.Append(ctx, on2, segmenttest.Batch{FirstTimestamp: time.Now().UnixMilli(), Values: [][]byte{[]byte("from node 2")}}.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if err := n2.b.WaitDurable(ctx, on2, r.Epoch, r.LastOffset+1); err != nil {
		t.Fatal(err)
	}
	var v RecordsView
	if code, msg := do(t, "GET", fmt.Sprintf("%s/v1/topics/spread/partitions/%d/records?offset=0", n1.url, on2.Partition), "", &v); code != 200 {
		t.Fatalf("%d %s", code, msg)
	}
	if v.Leader != 2 || len(v.Records) != 1 || string(v.Records[0].Value) != "from node 2" {
		t.Fatalf("records through node 1: %+v", v)
	}
	do(t, "GET", n1.url+"/v1/topics/spread/partitions", "", &ps)
	if ps[on2.Partition].HighWatermark != 1 || ps[on2.Partition].HotBytes <= 0 {
		t.Fatalf("node 2's partition seen from node 1: %+v", ps[on2.Partition])
	}
	// ?local=1 answers only this node's partitions and never forwards.
	var mine []PartitionView
	do(t, "GET", n1.url+"/v1/topics/spread/partitions?local=1", "", &mine)
	for _, p := range mine {
		if p.Leader != 1 {
			t.Fatalf("local view of node 1 holds %+v", p)
		}
	}
	if code, _ := do(t, "GET", fmt.Sprintf("%s/v1/topics/spread/partitions/%d/records?local=1", n1.url, on2.Partition), "", nil); code != 503 {
		t.Fatalf("local records of a partition led elsewhere: %d", code)
	}

	// A group coordinated by either node, with committed offsets: lag through both nodes.
	if err := st1.CommitOffsets(ctx, "billing", map[metadata.TopicPartition]metadata.OffsetCommit{on2: {Offset: 0, LeaderEpoch: -1}}); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{n1.url, n2.url} {
		var g GroupView
		if code, msg := do(t, "GET", u+"/v1/groups/billing", "", &g); code != 200 {
			t.Fatalf("%s: %d %s", u, code, msg)
		}
		if len(g.Offsets) != 1 || g.Offsets[0].Lag != 1 || g.TotalLag != 1 || g.State != "Empty" {
			t.Fatalf("group through %s: %+v", u, g)
		}
		var gs GroupsView
		do(t, "GET", u+"/v1/groups", "", &gs)
		if len(gs.Groups) != 1 || gs.Groups[0].Group != "billing" || len(gs.Errors) != 0 {
			t.Fatalf("groups through %s: %+v", u, gs)
		}
	}
	// A group name that needs escaping, asked of the node that does not coordinate it.
	odd := "team a/b?c"
	if err := st1.CommitOffsets(ctx, odd, map[metadata.TopicPartition]metadata.OffsetCommit{on2: {Offset: 1, LeaderEpoch: -1}}); err != nil {
		t.Fatal(err)
	}
	asker := n1.url
	if n1.b.IsCoordinator(odd) {
		asker = n2.url
	}
	var g GroupView
	if code, msg := do(t, "GET", asker+"/v1/groups/"+url.PathEscape(odd), "", &g); code != 200 || g.Group != odd || g.TotalLag != 0 {
		t.Fatalf("group %q through the other node: %d %s %+v", odd, code, msg, g)
	}
	if code, _ := do(t, "GET", n1.url+"/v1/groups/nobody", "", nil); code != 404 {
		t.Fatalf("unknown group: %d", code)
	}
	var c ClusterView
	do(t, "GET", n2.url+"/v1/cluster", "", &c)
	if len(c.Nodes) != 2 || c.Nodes[0].Version != "test-1" || c.Nodes[1].Version != "test-2" || c.Nodes[0].Led+c.Nodes[1].Led != 8 {
		t.Fatalf("cluster from node 2: %+v", c)
	}
}

func TestStaticAssets(t *testing.T) {
	n := startNode(t, 1, natsmetatest.Store(t), fileBucket(t), nil)
	for path, want := range map[string]string{"/": "<title>Strata console</title>", "/console/app.js": "function route", "/console/style.css": ".bar"} {
		resp, err := http.Get(n.url + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !bytes.Contains(b, []byte(want)) {
			t.Fatalf("%s: %d, %d bytes", path, resp.StatusCode, len(b))
		}
	}
	resp, err := http.Get(n.url + "/console/missing.js")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Fatalf("missing asset: %d", resp.StatusCode)
	}
}

package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/strata-log/strata/ingest/broker"
)

// Requests the node cannot take answer 400 (the client's mistake) with a message naming it, and
// write nothing; a missing topic is 404 only when auto-creation is off.
func TestIngestRefusesBadRequests(t *testing.T) {
	b := startBroker(t)
	srv := newServer(t, b, 0)
	for _, tc := range []struct {
		name, path string
		status     int
		want       string
		topic      string // must not exist afterwards
	}{
		{"invalid name", "/v1/topics/bad%20name/records", http.StatusBadRequest, `invalid character ' ' in topic name "bad name"`, "bad name"},
		{"too long", "/v1/topics/" + strings.Repeat("x", 250) + "/records", http.StatusBadRequest, "invalid topic name", strings.Repeat("x", 250)},
		{"consumer offsets", "/v1/topics/__consumer_offsets/records", http.StatusBadRequest, `"__consumer_offsets" is reserved`, "__consumer_offsets"},
		{"transaction state", "/v1/topics/__transaction_state/records", http.StatusBadRequest, "reserved", "__transaction_state"},
		{"other internal", "/v1/topics/__mine/records", http.StatusBadRequest, "reserved", "__mine"},
		{"unknown parameter", "/v1/topics/q/records?partition=3", http.StatusBadRequest, `unknown query parameter "partition"`, "q"},
		{"unknown beside key", "/v1/topics/q/records?key=user&keyfield=x", http.StatusBadRequest, `unknown query parameter "keyfield"`, "q"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out := post(t, srv.URL+tc.path, `{"user":"ada"}`+"\n")
			var e errorBody
			if err := json.Unmarshal(out, &e); err != nil {
				t.Fatalf("status %d, body %q: %v", code, out, err)
			}
			if code != tc.status || !strings.Contains(e.Error, tc.want) {
				t.Fatalf("status %d %q; want %d containing %q", code, e.Error, tc.status, tc.want)
			}
			if _, err := b.admin.Topic(context.Background(), tc.topic); broker.Code(err) == 0 {
				t.Fatalf("topic %q exists after a refused post", tc.topic)
			}
		})
	}
	// key alone is the one known parameter.
	if code, out := post(t, srv.URL+"/v1/topics/q/records?key=user", `{"user":"ada"}`+"\n"); code != http.StatusOK {
		t.Fatalf("?key=user: %d %s", code, out)
	}
}

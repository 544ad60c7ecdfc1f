package load

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// waitBackgroundQuiet asks the node for its compaction passes before it watches the counters, and
// says what they merged; a node without the endpoint is only watched.
func TestWaitBackgroundQuietCompactsFirst(t *testing.T) {
	for _, tc := range []struct {
		name    string
		compact func(w http.ResponseWriter)
		want    string
		asked   bool
	}{
		{"merges", func(w http.ResponseWriter) { _, _ = w.Write([]byte(`{"passes":2,"merges":3,"inputs":12}`)) },
			"3 merges of 12 segments", true},
		{"nothing to merge", func(w http.ResponseWriter) { _, _ = w.Write([]byte(`{"passes":1,"merges":0}`)) }, "", true},
		{"no endpoint", func(w http.ResponseWriter) { w.WriteHeader(http.StatusNotFound) }, "", true},
	} {
		asked := false
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			switch {
			case r.Method == http.MethodPost && r.URL.Path == "/v1/compaction":
				asked = true
				tc.compact(w)
			case r.URL.Path == "/metrics":
				_, _ = w.Write([]byte("strata_tier_uploads_total 7\n"))
			default:
				http.NotFound(w, r)
			}
		}))
		note, err := waitBackgroundQuiet(context.Background(), srv.URL+"/metrics", 30*time.Second)
		srv.Close()
		if err != nil || asked != tc.asked || (tc.want == "") != (note == "") || !strings.Contains(note, tc.want) {
			t.Errorf("%s: note %q, err %v, compaction asked %v", tc.name, note, err, asked)
		}
	}
}

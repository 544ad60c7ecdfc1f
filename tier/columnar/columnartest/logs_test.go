package columnartest

import (
	"encoding/json"
	"testing"
)

// The records are JSON objects of about the record size, the same for the same seed, keyed by
// their user.
func TestNext(t *testing.T) {
	a, b := NewLogs(7), NewLogs(7)
	users := map[string]bool{}
	for i := range 2000 {
		k, v := a.Next(int64(1_700_000_000_000+i), 1024)
		k2, v2 := b.Next(int64(1_700_000_000_000+i), 1024)
		if string(k) != string(k2) || string(v) != string(v2) {
			t.Fatalf("record %d differs for the same seed", i)
		}
		if len(v) < 1024 || len(v) > 1024+32 {
			t.Fatalf("record %d: %d bytes", i, len(v))
		}
		var m map[string]any
		if err := json.Unmarshal(v, &m); err != nil {
			t.Fatalf("record %d: %v: %s", i, err, v)
		}
		if m["user"] != string(k) || m["level"] == nil || m["service"] == nil || m["latency_ms"] == nil {
			t.Fatalf("record %d: %v keyed %s", i, m, k)
		}
		users[string(k)] = true
	}
	if len(users) < 1000 {
		t.Fatalf("%d users in 2000 records", len(users))
	}
}

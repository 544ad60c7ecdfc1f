// Package columnartest generates JSON log records of a realistic shape for the columnar tier's
// benchmarks: the bench's columnar and query scenarios send them, and the Go micro-benchmarks of
// conversion and Parquet reads encode the same records, so that their figures speak about the
// same data.
package columnartest

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"
)

// Logs builds 1 KiB JSON log records of a realistic shape: time, level, service, user,
// latency, status, path, a trace id, and a message of words from a small vocabulary (so it
// compresses as real log text does, not as random bytes or one repeated line).
type Logs struct {
	rng *rand.Rand
	buf bytes.Buffer
}

// NewLogs returns a generator of the records of seed: the same seed, the same records.
func NewLogs(seed uint64) *Logs { return &Logs{rng: rand.New(rand.NewPCG(seed, 1))} }

var (
	services = []string{"checkout", "payments", "search", "catalog", "auth", "gateway", "orders", "inventory",
		"shipping", "email", "recommendations", "profile"}
	paths = []string{"/api/v1/cart", "/api/v1/pay", "/api/v1/search", "/api/v1/items", "/login", "/api/v1/orders",
		"/api/v1/stock", "/api/v1/ship", "/healthz", "/api/v1/profile"}
	words = strings.Fields(`request handled completed started failed retry retrying upstream downstream connection
		pool cache hit miss user session token expired refreshed order item cart payment declined accepted queue
		message published consumed offset partition leader replica timeout deadline exceeded backend database query
		rows returned slow fast latency budget circuit breaker open closed half worker thread goroutine heap gc pause
		allocated freed bytes buffer flush sync disk write read object storage bucket key value lookup index shard
		rebalance group member joined left heartbeat config reload feature flag enabled disabled rollout region zone
		node pod container restart crash loop backoff throttled rate limit quota exceeded granted denied permission
		for with from to in on at by after before during while because`)
	levels = []string{"debug", "info", "info", "info", "info", "info", "info", "info", "info", "info", "info",
		"info", "info", "info", "info", "info", "warn", "warn", "warn", "error"}
)

// Users is how many distinct users (record keys, "u-00042") the records spread over.
const Users = 10_000

// Next returns the record at ts (Unix ms): its key (the user) and its value (JSON, size bytes or a
// few more: the message ends on a whole word).
func (g *Logs) Next(ts int64, size int) (key, value []byte) {
	r := g.rng
	user := r.IntN(Users)
	level := levels[r.IntN(len(levels))]
	b := &g.buf
	b.Reset()
	fmt.Fprintf(b, `{"time":%q,"level":%q,"service":%q,"user":"u-%05d","latency_ms":%d,"status":%d,"path":%q,"trace_id":"%016x","message":"`,
		time.UnixMilli(ts).UTC().Format(time.RFC3339Nano), level, services[r.IntN(len(services))], user,
		r.IntN(2000), []int{200, 200, 200, 201, 204, 400, 404, 500, 503}[r.IntN(9)], paths[r.IntN(len(paths))], r.Uint64())
	if level == "error" && r.IntN(4) == 0 {
		b.WriteString("connection reset by peer ")
	}
	for b.Len() < size-2 {
		b.WriteString(words[r.IntN(len(words))])
		b.WriteByte(' ')
	}
	b.WriteString(`"}`)
	return []byte(fmt.Sprintf("u-%05d", user)), slices.Clone(b.Bytes())
}

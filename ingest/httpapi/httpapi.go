// Package httpapi is a Strata node's HTTP surface: liveness and readiness probes, Prometheus metrics,
// pprof, and NDJSON ingest for log shippers that do not speak Kafka.
//
//	GET  /healthz                      200 while the process runs
//	GET  /readyz                       200 when Ready reports nil, else 503 with the reason
//	GET  /metrics                      Prometheus text format from the injected Gatherer
//	GET  /debug/pprof/...              runtime profiles
//	POST /v1/topics/{topic}/records    NDJSON body, one record per line
//
// # NDJSON ingest
//
// Each non-blank line is a JSON value: an object (stored as the line's bytes) or a string (stored as
// the decoded string). With ?key=FIELD, an object's FIELD becomes the record key (a string as is, any
// other JSON value as its JSON text), and keyed records are partitioned like Kafka's default
// partitioner (murmur2), so they land where a Kafka client would put them. The whole body is parsed
// and checked before anything is written: a bad line answers 400 naming its line number and writes
// nothing; a body over MaxBodyBytes answers 413 and writes nothing. An invalid topic name, a name
// reserved for internal topics ("__…") and a query parameter other than key answer 400; a missing
// topic answers 404 when auto-creation is off. The answer lists the assigned
// partition and offset of every record, in input order, after the records are fsynced.
//
// # Authentication
//
// Authenticate puts HTTP Basic authentication in front of a handler (strata server wraps every
// route with it when --sasl-users is set): the probes stay open, /metrics and /debug/pprof/ are
// open only with AuthConfig.OpenMetrics, anything else without valid credentials answers 401, and
// Principal gives an authorizer the authenticated "User:<name>" from the request's context.
//
// A Server is safe for concurrent use; it owns no goroutines beyond net/http's.
package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/strata-log/strata/ingest/broker"
	"github.com/strata-log/strata/ingest/topics"
	"github.com/strata-log/strata/metadata"
)

// Producer is what ingest needs from the broker.
type Producer interface {
	Append(ctx context.Context, tp metadata.TopicPartition, batch []byte) (broker.AppendResult, error)
	WaitDurable(ctx context.Context, tp metadata.TopicPartition, epoch int32, upTo int64) error
}

// Topics is what ingest needs from topic administration: the topic, auto-created if allowed.
type Topics interface {
	EnsureTopic(ctx context.Context, name string, allowAutoCreate bool) (metadata.Topic, error)
}

var (
	_ Producer = (*broker.Broker)(nil)
	_ Topics   = (*topics.Admin)(nil)
)

// Config configures a Server.
type Config struct {
	Producer Producer // required
	Topics   Topics   // required
	// Gatherer serves /metrics; nil serves an empty registry.
	Gatherer prometheus.Gatherer
	// Ready reports whether the node can serve; nil means always ready.
	Ready func(ctx context.Context) error
	// MaxBodyBytes bounds one NDJSON request body (default 8 MiB).
	MaxBodyBytes int64
	// MaxRecordsPerBatch bounds records per stored batch (default 1000).
	MaxRecordsPerBatch int
	// MaxRecordsPerRequest bounds the records (non-empty lines) of one body (default 100,000):
	// what a request holds in memory grows with its record count, not only its bytes (8 MiB of
	// one-byte values is four million records). A body over it answers 413, nothing written.
	MaxRecordsPerRequest int
	// MaxConcurrent bounds the ingest requests read and handled at once (default 8); more wait
	// for a slot until their Timeout, then answer 503 with Retry-After. With the other limits
	// it bounds what HTTP ingest holds in memory: about MaxConcurrent × (MaxBodyBytes +
	// MaxRecordsPerRequest × 200 B), 290 MiB by default.
	MaxConcurrent int
	// Timeout bounds one ingest request (default 30s).
	Timeout time.Duration
	// Authorizer, when set, checks ingest against the ACLs (authz.go): WRITE on the topic, and
	// CREATE to create it. Nil: every authenticated request may ingest.
	Authorizer Authorizer
	Logger     *slog.Logger
}

// Validate checks the config and fills defaults.
func (c *Config) Validate() error {
	if c.Producer == nil {
		return errors.New("httpapi: Config.Producer is required")
	}
	if c.Topics == nil {
		return errors.New("httpapi: Config.Topics is required")
	}
	if c.MaxBodyBytes < 0 || c.MaxRecordsPerBatch < 0 || c.Timeout < 0 || c.MaxRecordsPerRequest < 0 || c.MaxConcurrent < 0 {
		return errors.New("httpapi: negative limits")
	}
	if c.MaxRecordsPerRequest == 0 {
		c.MaxRecordsPerRequest = 100_000
	}
	if c.MaxConcurrent == 0 {
		c.MaxConcurrent = 8
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = 8 << 20
	}
	if c.MaxRecordsPerBatch == 0 {
		c.MaxRecordsPerBatch = 1000
	}
	if c.Timeout == 0 {
		c.Timeout = 30 * time.Second
	}
	if c.Gatherer == nil {
		c.Gatherer = prometheus.NewRegistry()
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// Handler returns the node's HTTP handler.
func Handler(cfg Config) (http.Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		if cfg.Ready != nil {
			ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
			defer cancel()
			if err := cfg.Ready(ctx); err != nil {
				http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		fmt.Fprintln(w, "ready")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(cfg.Gatherer, promhttp.HandlerOpts{}))
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	ing := &ingester{cfg: cfg, slots: make(chan struct{}, cfg.MaxConcurrent)}
	mux.HandleFunc("POST /v1/topics/{topic}/records", ing.serve)
	return mux, nil
}

// writeJSON answers v with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

type errorBody struct {
	Error string `json:"error"`
	Line  int    `json:"line,omitempty"`
}

func contextWithTimeout(r *http.Request, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), d)
}

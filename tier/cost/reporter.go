package cost

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/strata-log/strata/metadata"
)

// Catalogs is what a report reads from metadata: every topic and each partition's catalog.
type Catalogs interface {
	ListTopics(ctx context.Context) ([]metadata.Topic, error)
	GetCatalog(ctx context.Context, tp metadata.TopicPartition) (metadata.PartitionCatalog, error)
}

var _ Catalogs = metadata.Store(nil)

// Config configures a Reporter.
type Config struct {
	Sampler  *Sampler // required
	Catalogs Catalogs // required
	// Prices are the defaults a request's price parameters override (zero: DefaultPrices).
	Prices Prices
	// Timeout bounds one report (default 30s).
	Timeout time.Duration
	// CatalogReads bounds the catalog reads in flight for one report (default 8).
	CatalogReads int
	Logger       *slog.Logger
}

// Validate checks the config and fills defaults.
func (c *Config) Validate() error {
	if c.Sampler == nil || c.Catalogs == nil {
		return errors.New("cost: Config.Sampler and Config.Catalogs are required")
	}
	if c.Prices == (Prices{}) {
		c.Prices = DefaultPrices()
	}
	if err := c.Prices.Validate(); err != nil {
		return err
	}
	if c.Timeout < 0 || c.CatalogReads < 0 {
		return errors.New("cost: negative Config.Timeout or CatalogReads")
	}
	if c.Timeout == 0 {
		c.Timeout = 30 * time.Second
	}
	if c.CatalogReads == 0 {
		c.CatalogReads = 8
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// Reporter builds reports and serves them over HTTP:
//
//	GET /v1/cost[?window=1h][&put_per_1000=…&get_per_1000=…&storage_gb_month=…&hot_storage_gb_month=…]
//
// answers a Report as JSON; a bad parameter answers 400 {"error": "..."}. It is safe for concurrent
// use and owns no goroutines.
type Reporter struct {
	cfg Config
}

var _ http.Handler = (*Reporter)(nil)

// NewReporter returns a Reporter.
func NewReporter(cfg Config) (*Reporter, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Reporter{cfg: cfg}, nil
}

// Report computes the report over window (0: since the node started) at prices p.
func (r *Reporter) Report(ctx context.Context, window time.Duration, p Prices) (Report, error) {
	if err := p.Validate(); err != nil {
		return Report{}, err
	}
	start, end, capped, err := r.cfg.Sampler.Window(window)
	if err != nil {
		return Report{}, fmt.Errorf("cost: reading counters: %w", err)
	}
	topics, err := r.ObjectBytes(ctx)
	if err != nil {
		return Report{}, err
	}
	ops, ingested := Delta(start, end)
	return Compute(Input{
		Start: start.Time, End: end.Time, Requested: window, Capped: capped,
		Ops: ops, IngestedBytes: ingested, HotBytes: int64(end.HotBytes), Topics: topics,
	}, p), nil
}

// ObjectBytes sums the catalog's segment sizes per topic. A topic or partition deleted while it
// reads is left out.
func (r *Reporter) ObjectBytes(ctx context.Context) ([]TopicBytes, error) {
	topics, err := r.cfg.Catalogs.ListTopics(ctx)
	if err != nil {
		return nil, fmt.Errorf("cost: listing topics: %w", err)
	}
	out := make([]TopicBytes, len(topics))
	type job struct {
		topic int
		tp    metadata.TopicPartition
	}
	jobs := make(chan job)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	for range r.cfg.CatalogReads {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				c, err := r.cfg.Catalogs.GetCatalog(ctx, j.tp)
				mu.Lock()
				switch {
				case errors.Is(err, metadata.ErrNotFound):
				case err != nil:
					if firstErr == nil {
						firstErr = fmt.Errorf("cost: reading the catalog of %s: %w", j.tp, err)
					}
				default:
					for _, s := range c.Segments {
						out[j.topic].Bytes += s.Size
					}
					out[j.topic].Segments += len(c.Segments)
				}
				mu.Unlock()
			}
		}()
	}
feed:
	for i, t := range topics {
		out[i].Topic = t.Name
		for p := range t.Partitions {
			select {
			case jobs <- job{i, metadata.TopicPartition{Topic: t.Name, Partition: p}}:
			case <-ctx.Done():
				break feed
			}
		}
	}
	close(jobs)
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("cost: reading catalogs: %w", err)
	}
	return out, nil
}

// ServeHTTP answers GET /v1/cost.
func (r *Reporter) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	q := req.URL.Query()
	var window time.Duration
	if s := q.Get("window"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			writeJSON(w, http.StatusBadRequest, errorBody{fmt.Sprintf("window=%q: want a positive duration such as 15m or 24h", s)})
			return
		}
		window = d
	}
	p, err := r.cfg.Prices.WithParams(q)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, errorBody{err.Error()})
		return
	}
	ctx, cancel := context.WithTimeout(req.Context(), r.cfg.Timeout)
	defer cancel()
	rep, err := r.Report(ctx, window, p)
	if err != nil {
		r.cfg.Logger.Warn("cost: report", "err", err)
		writeJSON(w, http.StatusInternalServerError, errorBody{err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, rep)
}

type errorBody struct {
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

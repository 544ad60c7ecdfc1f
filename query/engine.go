package query

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/duckdb/duckdb-go/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/tier"
)

// Errors callers branch on (the HTTP handler maps them to statuses).
var (
	// ErrBadStatement: the engine refused the statement (syntax, binding, types); the message is
	// the engine's.
	ErrBadStatement = errors.New("query: bad statement")
	// ErrUnknownTopic: the statement names a table that is no topic.
	ErrUnknownTopic = errors.New("query: unknown topic")
	// ErrLimit: the query passed its timeout, memory budget or row limit.
	ErrLimit = errors.New("query: limit exceeded")
	// ErrForbidden: Config.Authorize refused a topic the statement reads.
	ErrForbidden = errors.New("query: not authorized")
	// ErrBusy: as many queries as Config.MaxConcurrent allows are running.
	ErrBusy = errors.New("query: too many queries running")
	// ErrConfig: the Config cannot work.
	ErrConfig = errors.New("query: invalid config")
)

// Topics resolves table names to topics: metadata.Store.
type Topics interface {
	// GetTopic returns metadata.ErrNotFound for an unknown name.
	GetTopic(ctx context.Context, name string) (metadata.Topic, error)
}

// Config configures an Engine.
type Config struct {
	Topics   Topics
	Catalogs tier.CatalogStore // the metadata service: each scan reads its partitions' catalogs fresh
	Objects  *tier.Reader      // reads segment objects
	Tail     Tail              // reads the hot tails from their leaders
	// Authorize, when set, is asked before a statement reads a topic, with the context the
	// query was run with (an HTTP request's, carrying its principal): false refuses the whole
	// statement with ErrForbidden, whether or not the topic exists.
	Authorize func(ctx context.Context, topic string) bool

	Timeout     time.Duration // per query (default 30s)
	MemoryLimit int64         // bytes the engine may hold per query (default 256 MiB)
	MaxRows     int64         // rows a query may return (default 100,000)
	Threads     int           // engine threads per query (default 2)
	// MaxConcurrent queries run at once; more are refused with ErrBusy (default 4).
	MaxConcurrent int

	Registerer prometheus.Registerer // nil: not registered
	Logger     *slog.Logger          // nil: discard
}

func (c *Config) applyDefaults() {
	if c.Timeout == 0 {
		c.Timeout = 30 * time.Second
	}
	if c.MemoryLimit == 0 {
		c.MemoryLimit = 256 << 20
	}
	if c.MaxRows == 0 {
		c.MaxRows = 100_000
	}
	if c.Threads == 0 {
		c.Threads = 2
	}
	if c.MaxConcurrent == 0 {
		c.MaxConcurrent = 4
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	switch {
	case c.Topics == nil || c.Catalogs == nil || c.Objects == nil || c.Tail == nil:
		return fmt.Errorf("%w: Topics, Catalogs, Objects and Tail are required", ErrConfig)
	case c.Timeout < 0 || c.MemoryLimit < 0 || c.MaxRows < 0 || c.Threads < 0 || c.MaxConcurrent < 0:
		return fmt.Errorf("%w: limits must not be negative", ErrConfig)
	case c.MemoryLimit > 0 && c.MemoryLimit < 16<<20:
		return fmt.Errorf("%w: a memory limit under 16 MiB leaves the engine nothing to work with", ErrConfig)
	}
	return nil
}

// Engine runs SQL over topics. Each query gets its own in-memory DuckDB database, with external
// access (files, network, extensions) disabled and its limits locked, so a statement sees only
// the topics and cannot change its own budget (one is kept opened ahead: see database). Safe for
// concurrent use; Close drops the database kept ahead.
type Engine struct {
	cfg    Config
	sem    chan struct{}
	m      *metrics
	spares spares
	hot    *hotIndex
}

// New returns an Engine. It does no I/O.
func New(cfg Config) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.applyDefaults()
	m, err := newMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	return &Engine{cfg: cfg, sem: make(chan struct{}, cfg.MaxConcurrent), m: m, hot: newHotIndex()}, nil
}

// Column is one column of a result.
type Column struct {
	Name string `json:"name"`
	Type string `json:"type"` // DuckDB's type name: BIGINT, VARCHAR, TIMESTAMP, ...
}

// Result streams a query's rows. Next/Values/Err/Close are for one goroutine; Close is
// idempotent and must be called.
type Result struct {
	Columns []Column

	e       *Engine
	run     *run
	rows    *sql.Rows
	scan    []any
	vals    []any
	n       int64
	err     error
	started time.Time
	close   func()
	once    sync.Once
}

// run is one query's state, shared with its replacement scan and table sources.
type run struct {
	ctx     context.Context
	e       *Engine
	plan    Plan
	c       counters
	mu      sync.Mutex
	topics  map[string]metadata.Topic
	denied  string // a topic Authorize refused
	unknown string
	lookErr error
	scanErr error // the first error of a scan (or of filling DuckDB's chunks)
	sources []*source
}

// Query runs stmt and returns its rows as a stream. Errors wrap ErrBadStatement,
// ErrUnknownTopic, ErrLimit or ErrBusy where they apply; errors met while streaming are Err's.
func (e *Engine) Query(ctx context.Context, stmt string) (_ *Result, err error) {
	select {
	case e.sem <- struct{}{}:
	default:
		e.m.queries.WithLabelValues("busy").Inc()
		return nil, ErrBusy
	}
	started := time.Now()
	ctx, cancel := context.WithTimeout(ctx, e.cfg.Timeout)
	r := &run{ctx: ctx, e: e, topics: map[string]metadata.Topic{}}
	var d *database
	closeAll := func() {
		r.mu.Lock()
		for _, s := range r.sources {
			s.close()
		}
		r.mu.Unlock()
		if d != nil {
			d.close()
		}
		cancel()
		<-e.sem
		e.refill()
	}
	defer func() {
		if err != nil {
			closeAll()
			e.m.queries.WithLabelValues(outcome(err)).Inc()
		}
	}()
	if d, err = e.takeDatabase(ctx, r); err != nil {
		return nil, err
	}
	conn := d.conn
	var ast string
	if err := conn.QueryRowContext(ctx, astQuery(stmt)).Scan(&ast); err == nil {
		r.plan = PlanFromAST([]byte(ast))
	}
	rows, err := conn.QueryContext(ctx, stmt)
	if err != nil {
		return nil, r.classify(err)
	}
	types, err := rows.ColumnTypes()
	if err != nil {
		rows.Close()
		return nil, r.classify(err)
	}
	res := &Result{e: e, run: r, rows: rows, started: started, close: closeAll}
	for _, t := range types {
		res.Columns = append(res.Columns, Column{Name: t.Name(), Type: t.DatabaseTypeName()})
	}
	res.scan = make([]any, len(types))
	res.vals = make([]any, len(types))
	for i := range res.scan {
		res.scan[i] = &res.vals[i]
	}
	return res, nil
}

// astQuery is the statement asking DuckDB for stmt's syntax tree (json_serialize_sql takes a
// constant only, not a parameter).
func astQuery(stmt string) string {
	return "SELECT CAST(json_serialize_sql(" + quoteString(stmt) + ") AS VARCHAR)"
}

// scanFunction is the table function a topic's name is replaced by.
const scanFunction = "topic_rows"

func varchar() duckdb.TypeInfo {
	t, _ := duckdb.NewTypeInfo(duckdb.TYPE_VARCHAR)
	return t
}

// replace resolves a table name DuckDB does not know to a topic, scanned by scanFunction.
func (r *run) replace(name string) (string, []any, error) {
	if err := r.authorize(name); err != nil {
		return "", nil, err
	}
	t, err := r.e.cfg.Topics.GetTopic(r.ctx, name)
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case errors.Is(err, metadata.ErrNotFound):
		r.unknown = name
		return "", nil, fmt.Errorf("no topic named %q", name)
	case err != nil:
		r.lookErr = err
		return "", nil, fmt.Errorf("looking up topic %q: %v", name, err)
	}
	r.topics[name] = t
	return scanFunction, []any{name}, nil
}

// authorize asks Config.Authorize whether the query may read topic.
func (r *run) authorize(topic string) error {
	if r.e.cfg.Authorize == nil || r.e.cfg.Authorize(r.ctx, topic) {
		return nil
	}
	r.mu.Lock()
	if r.denied == "" {
		r.denied = topic
	}
	r.mu.Unlock()
	return fmt.Errorf("not authorized to read topic %q", topic)
}

func (r *run) bind(_ map[string]any, args ...any) (duckdb.ParallelChunkTableSource, error) {
	name, _ := args[0].(string)
	if err := r.authorize(name); err != nil { // topic_rows('name') written out by hand
		return nil, err
	}
	r.mu.Lock()
	t, ok := r.topics[name]
	r.mu.Unlock()
	if !ok {
		var err error
		if t, err = r.e.cfg.Topics.GetTopic(r.ctx, name); err != nil {
			return nil, fmt.Errorf("no topic named %q", name)
		}
	}
	cols, err := columns()
	if err != nil {
		return nil, err
	}
	cfg := r.e.cfg
	s := &source{cols: cols, ctx: r.ctx, failed: r.failed, threads: r.e.cfg.Threads, sc: &scanner{catalogs: cfg.Catalogs, objects: cfg.Objects, tail: cfg.Tail,
		hotIndex: r.e.hot, topic: t, bounds: r.plan.For(name), c: &r.c}}
	r.mu.Lock()
	r.sources = append(r.sources, s)
	r.mu.Unlock()
	return s, nil
}

// failed notes a scan's error, for classify.
func (r *run) failed(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.scanErr == nil {
		r.scanErr = err
	}
}

// classify wraps an engine error in the sentinel it means.
func (r *run) classify(err error) error {
	r.mu.Lock()
	denied, unknown, lookErr, scanErr := r.denied, r.unknown, r.lookErr, r.scanErr
	r.mu.Unlock()
	if denied != "" {
		return fmt.Errorf("%w: reading topic %q needs READ on it", ErrForbidden, denied)
	}
	if errors.Is(r.ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("%w: the query ran past its timeout of %s", ErrLimit, r.e.cfg.Timeout)
	}
	var de *duckdb.Error
	if !errors.As(err, &de) {
		return err
	}
	if scanErr != nil && !errors.Is(scanErr, context.Canceled) {
		return scanErr // reading a topic failed: not the statement's fault
	}
	switch {
	case unknown != "" && lookErr == nil:
		return fmt.Errorf("%w: %q", ErrUnknownTopic, unknown)
	case lookErr != nil:
		return fmt.Errorf("query: %w", lookErr)
	case de.Type == duckdb.ErrorTypeOutOfMemory:
		return fmt.Errorf("%w: the query needs more than its memory budget of %d bytes: %s", ErrLimit, r.e.cfg.MemoryLimit, de.Msg)
	case de.Type == duckdb.ErrorTypeInterrupt:
		return fmt.Errorf("query: interrupted: %w", err)
	case de.Type == duckdb.ErrorTypeIO || de.Type == duckdb.ErrorTypeInternal || de.Type == duckdb.ErrorTypeFatal:
		return fmt.Errorf("query: %w", err)
	}
	return fmt.Errorf("%w: %s", ErrBadStatement, de.Msg)
}

// Next advances to the next row. It returns false at the end, on an error (Err) and once the
// row limit is passed (Err wraps ErrLimit).
func (r *Result) Next() bool {
	if r.err != nil {
		return false
	}
	if !r.rows.Next() {
		if err := r.rows.Err(); err != nil {
			r.err = r.run.classify(err)
		}
		return false
	}
	if r.n >= r.e.cfg.MaxRows {
		r.err = fmt.Errorf("%w: more than %d rows (add a LIMIT, or narrow the query)", ErrLimit, r.e.cfg.MaxRows)
		return false
	}
	if err := r.rows.Scan(r.scan...); err != nil {
		r.err = fmt.Errorf("query: reading a row: %w", err)
		return false
	}
	r.n++
	return true
}

// Values is the current row, one value per column, valid until the next call of Next.
func (r *Result) Values() []any { return r.vals }

// Err is the error that ended the rows early, nil at a clean end.
func (r *Result) Err() error { return r.err }

// Rows is how many rows Next returned.
func (r *Result) Rows() int64 { return r.n }

// Stats is what the query has read so far, per tier.
func (r *Result) Stats() Stats { return r.run.c.stats() }

// Close ends the query and releases its engine. Idempotent.
func (r *Result) Close() error {
	r.once.Do(func() {
		r.rows.Close()
		r.close()
		st := r.run.c.stats()
		r.e.m.observe(st, time.Since(r.started), outcome(r.err))
	})
	return nil
}

package query

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/duckdb/duckdb-go/v2"
)

// database is one query's DuckDB: a fresh in-memory database, its table function and replacement
// scan registered and its settings locked, bound to its query (run) only when a query takes it.
// Opening one costs about as much as a small query (milliseconds of CPU), so the Engine keeps a
// spare, opening the next as a query takes it: a query takes a database no statement has seen,
// and does not wait for it to open.
type database struct {
	db   *sql.DB
	conn *sql.Conn
	run  atomic.Pointer[run]
}

// openDatabase opens and configures a database for e's queries.
func (e *Engine) openDatabase(ctx context.Context) (_ *database, err error) {
	d := &database{}
	connector, err := duckdb.NewConnector("", nil)
	if err != nil {
		return nil, fmt.Errorf("query: engine: %w", err)
	}
	duckdb.RegisterReplacementScan(connector, func(name string) (string, []any, error) { return d.run.Load().replace(name) })
	d.db = sql.OpenDB(connector)
	defer func() {
		if err != nil {
			d.close()
		}
	}()
	if d.conn, err = d.db.Conn(ctx); err != nil {
		return nil, fmt.Errorf("query: engine: %w", err)
	}
	if err := duckdb.RegisterTableUDF(d.conn, scanFunction, duckdb.ParallelChunkTableFunction{
		Config: duckdb.TableFunctionConfig{Arguments: []duckdb.TypeInfo{varchar()}},
		BindArguments: func(named map[string]any, args ...any) (duckdb.ParallelChunkTableSource, error) {
			return d.run.Load().bind(named, args...)
		},
	}); err != nil {
		return nil, fmt.Errorf("query: engine: %w", err)
	}
	for _, s := range []string{
		"SET enable_external_access = false", "SET autoinstall_known_extensions = false",
		"SET autoload_known_extensions = false", "SET TimeZone = 'UTC'",
		fmt.Sprintf("SET memory_limit = '%dB'", e.cfg.MemoryLimit), fmt.Sprintf("SET threads = %d", e.cfg.Threads),
		"SET lock_configuration = true",
	} {
		if _, err := d.conn.ExecContext(ctx, s); err != nil {
			return nil, fmt.Errorf("query: engine setup (%s): %w", s, err)
		}
	}
	return d, nil
}

func (d *database) close() {
	if d.conn != nil {
		d.conn.Close()
	}
	d.db.Close()
}

// spares keeps at most one opened database no query has used, and the goroutines opening one.
type spares struct {
	mu      sync.Mutex
	closed  bool
	spare   *database
	opening bool
	wg      sync.WaitGroup
}

// takeDatabase returns the spare database for r, or opens one, and starts opening the next
// spare (queries back to back would otherwise find it still opening).
func (e *Engine) takeDatabase(ctx context.Context, r *run) (*database, error) {
	e.spares.mu.Lock()
	d := e.spares.spare
	e.spares.spare = nil
	e.spares.mu.Unlock()
	e.refill()
	if d == nil {
		var err error
		if d, err = e.openDatabase(ctx); err != nil {
			return nil, err
		}
	}
	d.run.Store(r)
	return d, nil
}

// refill opens a spare database in the background unless one is there or being opened.
func (e *Engine) refill() {
	s := &e.spares
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.spare != nil || s.opening {
		return
	}
	s.opening = true
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		d, err := e.openDatabase(ctx)
		if err != nil {
			e.cfg.Logger.Warn("query: opening a spare engine", "err", err)
		}
		s.mu.Lock()
		s.opening = false
		if d != nil && !s.closed {
			s.spare, d = d, nil
		}
		s.mu.Unlock()
		if d != nil {
			d.close()
		}
	}()
}

// Close drops the spare database, waiting for one being opened. Queries still running are not
// stopped; none may start after. Idempotent.
func (e *Engine) Close() error {
	s := &e.spares
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.wg.Wait()
	s.mu.Lock()
	d := s.spare
	s.spare = nil
	s.mu.Unlock()
	if d != nil {
		d.close()
	}
	return nil
}

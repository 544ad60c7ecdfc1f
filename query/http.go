package query

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"
)

// HTTP trailers of every answer (declared before the body, set after it).
const (
	// TrailerStats is the query's Stats as JSON: rows and bytes read per tier.
	TrailerStats = "Strata-Query-Stats"
	// TrailerError is set when the query failed after its first row was sent (the status is then
	// already 200); NDJSON answers also end with an {"error": ...} line.
	TrailerError = "Strata-Query-Error"
)

// maxStatement bounds a POST /v1/sql body.
const maxStatement = 1 << 20

// Register mounts POST /v1/sql and GET /v1/search on mux.
func (e *Engine) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/sql", e.serveSQL)
	mux.HandleFunc("GET /v1/search", e.serveSearch)
}

// format picks the answer's format: ?format= first, then Accept.
func format(r *http.Request) (string, error) {
	if f := r.URL.Query().Get("format"); f != "" {
		switch f {
		case FormatNDJSON, FormatCSV, FormatArrow:
			return f, nil
		}
		return "", fmt.Errorf("%w: format %q: want ndjson, csv or arrow", ErrBadStatement, f)
	}
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		switch mt {
		case "application/vnd.apache.arrow.stream":
			return FormatArrow, nil
		case "text/csv":
			return FormatCSV, nil
		case "application/x-ndjson", "application/json", "*/*":
			return FormatNDJSON, nil
		}
	}
	return FormatNDJSON, nil
}

func (e *Engine) serveSQL(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxStatement+1))
	if err != nil {
		writeError(w, fmt.Errorf("%w: reading the statement: %v", ErrBadStatement, err))
		return
	}
	if len(body) > maxStatement {
		writeError(w, fmt.Errorf("%w: a statement of more than %d bytes", ErrBadStatement, maxStatement))
		return
	}
	stmt := strings.TrimSpace(string(body))
	if stmt == "" {
		writeError(w, fmt.Errorf("%w: the body must hold a statement", ErrBadStatement))
		return
	}
	f, err := format(r)
	if err != nil {
		writeError(w, err)
		return
	}
	e.answer(w, r.Context(), stmt, f, nil)
}

func (e *Engine) serveSearch(w http.ResponseWriter, r *http.Request) {
	s, err := ParseSearch(r.URL.Query(), time.Now(), int(e.cfg.MaxRows))
	if err != nil {
		writeError(w, err)
		return
	}
	var tail func(io.Writer) error
	if s.Bucket > 0 {
		tail = func(out io.Writer) error { return e.histogram(r.Context(), out, s) }
	}
	e.answer(w, r.Context(), s.SQL(), FormatNDJSON, tail)
}

// histogram runs the search's histogram and writes it as one NDJSON line.
func (e *Engine) histogram(ctx context.Context, w io.Writer, s Search) error {
	res, err := e.Query(ctx, s.HistogramSQL())
	if err != nil {
		return err
	}
	defer res.Close()
	type bucket struct {
		Start string `json:"start"`
		Count any    `json:"count"`
	}
	buckets := []bucket{}
	for res.Next() {
		v := res.Values()
		buckets = append(buckets, bucket{Start: fmt.Sprint(jsonValue(v[0])), Count: jsonValue(v[1])})
	}
	if err := res.Err(); err != nil {
		return err
	}
	return json.NewEncoder(w).Encode(map[string]any{"histogram": buckets, "bucket": s.Bucket.String()})
}

// answer runs stmt and streams its rows. The status is chosen once the first row (or the end) is
// known, so statement errors and unknown topics get theirs; later errors go in the trailer.
func (e *Engine) answer(w http.ResponseWriter, ctx context.Context, stmt, f string, tail func(io.Writer) error) {
	res, err := e.Query(ctx, stmt)
	if err != nil {
		writeError(w, err)
		return
	}
	defer res.Close()
	first := res.Next()
	if !first && res.Err() != nil {
		w.Header().Set(TrailerStats, statsJSON(res.Stats()))
		writeError(w, res.Err())
		return
	}
	h := w.Header()
	h.Set("Content-Type", ContentType(f))
	h.Set("Trailer", TrailerStats+", "+TrailerError)
	w.WriteHeader(http.StatusOK)
	enc, err := NewEncoder(w, f, res.Columns)
	if err == nil && first {
		err = enc.Row(res.Values())
		flusher, _ := w.(http.Flusher)
		for err == nil && res.Next() {
			err = enc.Row(res.Values())
			if flusher != nil && res.Rows()%1024 == 0 {
				flusher.Flush()
			}
		}
	}
	if err == nil {
		err = res.Err()
	}
	if enc != nil {
		if cerr := enc.Close(); err == nil {
			err = cerr
		}
	}
	stats := res.Stats()
	res.Close() // before tail's own query: it needs a concurrency slot too
	if err == nil && tail != nil {
		err = tail(w)
	}
	if err != nil {
		h.Set(TrailerError, err.Error())
		if f == FormatNDJSON {
			b, _ := json.Marshal(map[string]string{"error": err.Error()})
			w.Write(append(b, '\n'))
		}
	}
	h.Set(TrailerStats, statsJSON(stats))
}

func statsJSON(s Stats) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// Status is the HTTP status of a query error.
func Status(err error) int {
	switch {
	case errors.Is(err, ErrBadStatement):
		return http.StatusBadRequest
	case errors.Is(err, ErrUnknownTopic):
		return http.StatusNotFound
	case errors.Is(err, ErrForbidden):
		return http.StatusForbidden
	case errors.Is(err, ErrLimit):
		return http.StatusUnprocessableEntity
	case errors.Is(err, ErrBusy):
		return http.StatusTooManyRequests
	}
	return http.StatusInternalServerError
}

func writeError(w http.ResponseWriter, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(Status(err))
	json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
}

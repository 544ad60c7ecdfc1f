package main

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/strata-log/strata/query"
)

// runSQL is `strata sql "SELECT …"`: POST /v1/sql on a node, the rows as a table on a terminal
// (or --format ndjson|csv|arrow as the node sends them).
func runSQL(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("sql", flag.ContinueOnError)
	var hc httpClientFlags
	hc.register(fs)
	format := fs.String("format", "", "table, ndjson, csv or arrow (default: table on a terminal, else ndjson)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef(`strata sql wants one statement, quoted: strata sql "SELECT count(*) FROM logs"`)
	}
	if err := hc.validate(); err != nil {
		return err
	}
	f, err := outputFormat(*format, stdout)
	if err != nil {
		return err
	}
	wire := f
	if f == "table" {
		wire = query.FormatCSV
	}
	cl, u, err := hc.client("/v1/sql", url.Values{"format": {wire}})
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), strings.NewReader(pos[0]))
	if err != nil {
		return err
	}
	return runQueryRequest(hc, cl, req, f, stdout, stderr)
}

// runSearch is `strata search TOPIC [--q TEXT] [--where f=v]...`: GET /v1/search, NDJSON.
func runSearch(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("search", flag.ContinueOnError)
	var hc httpClientFlags
	hc.register(fs)
	text := fs.String("q", "", "text the value must contain (case-insensitive)")
	from := fs.String("from", "", "oldest time: RFC 3339, Unix ms, or a duration before now (1h)")
	to := fs.String("to", "", "end of the window (exclusive), as --from")
	limit := fs.Int("limit", 0, "newest records to return (default 100)")
	hist := fs.String("histogram", "", "also count matches per bucket of this width (1m)")
	var where multiFlag
	fs.Var(&where, "where", "field=value the record must match: a JSON path in the value (a.b), key or partition (repeatable)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("strata search wants one topic")
	}
	if err := hc.validate(); err != nil {
		return err
	}
	q := url.Values{"topic": {pos[0]}}
	for k, v := range map[string]string{"q": *text, "from": *from, "to": *to, "histogram": *hist} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if *limit > 0 {
		q.Set("limit", fmt.Sprint(*limit))
	}
	for _, w := range where {
		q.Add("where", w)
	}
	cl, u, err := hc.client("/v1/search", q)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return err
	}
	return runQueryRequest(hc, cl, req, query.FormatNDJSON, stdout, stderr)
}

func outputFormat(f string, stdout io.Writer) (string, error) {
	switch f {
	case "":
		if isTerminal(stdout) {
			return "table", nil
		}
		return query.FormatNDJSON, nil
	case "table", query.FormatNDJSON, query.FormatCSV, query.FormatArrow:
		return f, nil
	}
	return "", usagef("--format %q: want table, ndjson, csv or arrow", f)
}

// runQueryRequest sends req, streams the answer to stdout (as a table for "table"), shows a
// progress line on a terminal once the query runs past a second, and reports the bytes read per
// tier on stderr.
func runQueryRequest(hc httpClientFlags, cl *http.Client, req *http.Request, f string, stdout, stderr io.Writer) error {
	if hc.user != "" {
		req.SetBasicAuth(hc.user, hc.password)
	}
	p := newProgress(stderr)
	start := time.Now()
	quit, exited := make(chan struct{}), make(chan struct{})
	go func() { // the progress line, once the query runs past a second
		defer close(exited)
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-t.C:
				if d := time.Since(start); d >= time.Second {
					p.update("query running (%s)", seconds(d))
				}
			}
		}
	}()
	stopProgress := func() {
		select {
		case <-quit:
		default:
			close(quit)
			<-exited
		}
	}
	defer stopProgress()
	resp, err := cl.Do(req)
	if err != nil {
		return fmt.Errorf("cannot reach a Strata node at %s: %v", hc.addr, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		stopProgress()
		var e struct{ Error string }
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		if json.Unmarshal(b, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(b))
		}
		if resp.StatusCode == http.StatusUnauthorized {
			return errors.New("the node wants credentials: give --sasl-user and --sasl-password")
		}
		return fmt.Errorf("%s (%s)", e.Error, resp.Status)
	}
	if f == "table" {
		err = printTable(resp.Body, stdout, stopProgress)
	} else {
		_, err = io.Copy(stdout, resp.Body)
	}
	stopProgress()
	if err != nil {
		return err
	}
	if e := resp.Trailer.Get(query.TrailerError); e != "" {
		return errors.New(e)
	}
	var st query.Stats
	if json.Unmarshal([]byte(resp.Trailer.Get(query.TrailerStats)), &st) == nil {
		p.done("read %d rows, %d bytes from segments; %d rows, %d bytes from hot logs (%d segments pruned) in %s",
			st.Segment.Rows, st.Segment.Bytes, st.Hot.Rows, st.Hot.Bytes, st.SegmentsPruned, seconds(time.Since(start)))
	}
	return nil
}

// printTable renders a CSV answer as aligned columns.
func printTable(r io.Reader, w io.Writer, first func()) error {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	shown := false
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if !shown {
			first()
			shown = true
		}
		for i, v := range rec {
			rec[i] = strings.NewReplacer("\t", " ", "\n", " ").Replace(v)
		}
		fmt.Fprintln(tw, strings.Join(rec, "\t"))
	}
	return tw.Flush()
}

package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/strata-log/strata/compaction"
	"github.com/strata-log/strata/ingest/httpapi"
	"github.com/strata-log/strata/metadata"
)

// compactHandler serves POST /v1/compaction: run this node's merge passes now (compaction's
// CatchUp: until no shared range waits beyond a pass's window) and answer what they did. With
// ACLs on it asks ALTER on the cluster, as Kafka's admin operations on the cluster do.
type compactHandler struct {
	w     *compaction.Worker // nil: merges are off on this node
	authz httpapi.Authorizer
	log   *slog.Logger
}

func (h compactHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	answer := func(status int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(v)
	}
	if !httpapi.AuthorizeRequest(r, h.authz, metadata.OpAlter, metadata.ResourceCluster, metadata.ClusterResourceName) {
		answer(http.StatusForbidden, map[string]string{"error": "not authorized: ALTER on the cluster is needed"})
		return
	}
	if h.w == nil {
		answer(http.StatusConflict, map[string]string{"error": "merges are off on this node (--compaction-interval 0)"})
		return
	}
	began := time.Now()
	res, err := h.w.CatchUp(r.Context())
	if err != nil {
		h.log.Warn("compaction requested over HTTP: failed", "err", err)
		answer(http.StatusServiceUnavailable, map[string]string{"error": err.Error()})
		return
	}
	h.log.Info("compaction requested over HTTP: done", "passes", res.Passes, "merges", res.Merges,
		"inputs", res.Inputs, "skipped", res.Skipped, "took", time.Since(began).Round(time.Millisecond))
	answer(http.StatusOK, res)
}

// runCompact asks a node to run its merge passes now (POST /v1/compaction) and prints what they
// did.
func runCompact(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("compact", flag.ContinueOnError)
	var hc httpClientFlags
	hc.register(fs)
	asJSON := fs.Bool("json", false, "print the node's JSON answer instead of a line")
	timeout := fs.Duration("timeout", 10*time.Minute, "how long to wait for the passes")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usagef("unexpected argument %q", pos[0])
	}
	if err := hc.validate(); err != nil {
		return err
	}
	if *timeout <= 0 {
		return usagef("--timeout %v: want more than 0", *timeout)
	}
	body, err := hc.call(ctx, http.MethodPost, "/v1/compaction", nil, *timeout, 1<<20)
	if err != nil {
		return err
	}
	if *asJSON {
		_, err := stdout.Write(body)
		return err
	}
	var r compaction.Result
	if err := json.Unmarshal(body, &r); err != nil {
		return fmt.Errorf("%s: not a compaction result: %v", hc.addr, err)
	}
	passes := "passes"
	if r.Passes == 1 {
		passes = "pass"
	}
	_, err = fmt.Fprintf(stdout, "%d %s over %d partitions: %d merges of %d segments, %d skipped, %d cleaned by key (%d records removed), %d converted to Parquet; %d ranges still wait\n",
		r.Passes, passes, r.Partitions, r.Merges, r.Inputs, r.Skipped, r.Cleaned, r.Removed, r.Converted, r.Deferred)
	return err
}

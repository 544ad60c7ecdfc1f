package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/strata-log/strata/tier/cost"
)

// runCost asks a node for its cost report (GET /v1/cost) and prints it.
func runCost(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("cost", flag.ContinueOnError)
	var hc httpClientFlags
	hc.register(fs)
	addr := &hc.addr
	window := fs.Duration("window", 0, "report the last WINDOW, e.g. 1h (default: since the node started)")
	asJSON := fs.Bool("json", false, "print the node's JSON report instead of a table")
	timeout := fs.Duration("timeout", 30*time.Second, "how long to wait for the report")
	var prices multiFlag
	fs.Var(&prices, "price", "override a list price, NAME=USD (repeatable); NAME is one of "+strings.Join(cost.PriceParams, ", "))
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
	if *window < 0 {
		return usagef("--window %v: want a positive duration (or none: since the node started)", *window)
	}
	if *timeout <= 0 {
		return usagef("--timeout %v: want more than 0", *timeout)
	}
	q := url.Values{}
	if *window > 0 {
		q.Set("window", window.String())
	}
	for _, kv := range prices {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || !slices.Contains(cost.PriceParams, k) {
			return usagef("--price %q: want NAME=USD with NAME one of %s", kv, strings.Join(cost.PriceParams, ", "))
		}
		if f, err := strconv.ParseFloat(v, 64); err != nil || f < 0 || math.IsNaN(f) || math.IsInf(f, 0) {
			return usagef("--price %q: want a number of dollars, 0 or more", kv)
		}
		q.Set(k, v)
	}

	body, err := hc.call(ctx, http.MethodGet, "/v1/cost", q, *timeout, 64<<20)
	if err != nil {
		return err
	}
	if *asJSON {
		_, err := stdout.Write(body)
		return err
	}
	var r cost.Report
	if err := json.Unmarshal(body, &r); err != nil {
		return fmt.Errorf("%s: not a cost report: %v", *addr, err)
	}
	printCost(stdout, r)
	return nil
}

// printCost writes r as tables for a human.
func printCost(w io.Writer, r cost.Report) {
	span := time.Duration(r.Window.Seconds * float64(time.Second)).Round(time.Second)
	since := "since the node started"
	if r.Window.RequestedSeconds > 0 {
		since = "asked " + time.Duration(r.Window.RequestedSeconds*float64(time.Second)).String()
		if r.Window.Capped {
			since += ", capped: sampled only this far back"
		}
	}
	fmt.Fprintf(w, "window  %s .. %s (%v, %s)\n", r.Window.Start.UTC().Format(time.DateTime),
		r.Window.End.UTC().Format(time.DateTime+" UTC"), span, since)
	fmt.Fprintf(w, "prices  PUT/COPY/POST/LIST %s per 1,000 · GET/HEAD and others %s per 1,000 · DELETE free · storage %s per GB-month (hot log %s)\n\n",
		usd(r.Prices.PutPer1000), usd(r.Prices.GetPer1000), usd(r.Prices.StorageGBMonth), usd(r.Prices.HotStorageGBMonth))

	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "OP\tCLASS\tREQUESTS\tCOST\tPER MONTH")
	for _, q := range r.Requests {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", q.Op, q.Class, q.Count, usd(q.Cost), usd(q.Monthly))
	}
	fmt.Fprintf(tw, "total\t\t%d\t%s\t%s\n", r.Total.Count, usd(r.Total.Cost), usd(r.Total.Monthly))
	tw.Flush()
	fmt.Fprintln(w)

	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIER\tBYTES\tPER MONTH")
	for _, s := range r.Storage {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", s.Tier, bytesIEC(s.Bytes), usd(s.Monthly))
	}
	tw.Flush()
	if len(r.Topics) > 0 {
		fmt.Fprintln(w)
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "TOPIC\tOBJECT BYTES\tSEGMENTS\tPER MONTH")
		for _, t := range r.Topics {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", t.Topic, bytesIEC(t.Bytes), t.Segments, usd(t.Monthly))
		}
		tw.Flush()
	}
	fmt.Fprintln(w)
	perGiB := "no bytes ingested"
	if r.Ingest.PutsPerGiB != nil {
		perGiB = strconv.FormatFloat(*r.Ingest.PutsPerGiB, 'f', 1, 64) + " PUTs per GiB"
	}
	fmt.Fprintf(w, "ingested  %s (%s); put requests %d: %s\n", bytesIEC(int64(r.Ingest.Bytes)), r.Ingest.Source, r.Ingest.Puts, perGiB)
	fmt.Fprintf(w, "monthly   %s (requests at this window's rate, storage at today's size)\n", usd(r.Monthly))
}

// usd formats dollars with the digits that matter for small amounts.
func usd(v float64) string {
	switch {
	case v == 0:
		return "$0"
	case v >= 1:
		return "$" + strconv.FormatFloat(v, 'f', 2, 64)
	case v < 0.000001:
		return "<$0.000001"
	default:
		s := strings.TrimRight(strconv.FormatFloat(v, 'f', 6, 64), "0")
		return "$" + s
	}
}

// bytesIEC formats a byte count in binary units.
func bytesIEC(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	f, i := float64(n), 0
	for f >= unit && i < 4 {
		f /= unit
		i++
	}
	return fmt.Sprintf("%.2f %s", f, [...]string{"B", "KiB", "MiB", "GiB", "TiB"}[i])
}

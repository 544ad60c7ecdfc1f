// Package grafana builds Strata's operator dashboard, deploy/grafana/strata.json, from Go so that
// the panels' queries can be checked against the metrics the code registers (docs/metrics.md). The
// JSON is Grafana's dashboard model (schemaVersion 39) with a Prometheus data-source variable and an
// instance filter; import it through Grafana's UI or provisioning.
//
// Regenerate with `go run ./bench/cmd/strata-bench dashboard -o deploy/grafana/strata.json`; a test
// fails when the committed file differs from what Dashboard returns.
package grafana

import (
	"bytes"
	"encoding/json"
	"regexp"
	"slices"
)

// Target is one query of a panel.
type Target struct {
	Expr         string `json:"expr"`
	LegendFormat string `json:"legendFormat,omitempty"`
	RefID        string `json:"refId"`
	Datasource   ds     `json:"datasource"`
}

type ds struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

var prom = ds{Type: "prometheus", UID: "${datasource}"}

type gridPos struct {
	H int `json:"h"`
	W int `json:"w"`
	X int `json:"x"`
	Y int `json:"y"`
}

// Panel is a time series panel or a row header.
type Panel struct {
	ID          int            `json:"id"`
	Type        string         `json:"type"`
	Title       string         `json:"title"`
	Description string         `json:"description,omitempty"`
	GridPos     gridPos        `json:"gridPos"`
	Datasource  *ds            `json:"datasource,omitempty"`
	Targets     []Target       `json:"targets,omitempty"`
	FieldConfig map[string]any `json:"fieldConfig,omitempty"`
	Options     map[string]any `json:"options,omitempty"`
	Collapsed   *bool          `json:"collapsed,omitempty"`
	Panels      []Panel        `json:"panels,omitempty"`
}

type q struct{ expr, legend string }

// sel is the instance filter every query applies.
const sel = `instance=~"$instance"`

func rate(metric, extra string) string {
	m := metric + "{" + sel
	if extra != "" {
		m += "," + extra
	}
	return "rate(" + m + "}[$__rate_interval])"
}

func quantile(qv, metric, extra, by string) string {
	group := "le"
	if by != "" {
		group = by + ", le"
	}
	return "histogram_quantile(" + qv + ", sum by (" + group + ") (" + rate(metric+"_bucket", extra) + "))"
}

type builder struct {
	panels []Panel
	id     int
	x, y   int
}

func (b *builder) row(title string) {
	if b.x != 0 {
		b.x, b.y = 0, b.y+8
	}
	b.id++
	f := false
	b.panels = append(b.panels, Panel{ID: b.id, Type: "row", Title: title, GridPos: gridPos{H: 1, W: 24, X: 0, Y: b.y}, Collapsed: &f})
	b.y++
}

func (b *builder) ts(title, unit, desc string, qs ...q) {
	const w, h = 8, 8
	if b.x+w > 24 {
		b.x, b.y = 0, b.y+h
	}
	b.id++
	p := Panel{ID: b.id, Type: "timeseries", Title: title, Description: desc, GridPos: gridPos{H: h, W: w, X: b.x, Y: b.y},
		Datasource: &prom,
		FieldConfig: map[string]any{"defaults": map[string]any{"unit": unit, "min": 0,
			"custom": map[string]any{"fillOpacity": 10, "lineWidth": 1, "showPoints": "never"}}, "overrides": []any{}},
		Options: map[string]any{"legend": map[string]any{"displayMode": "list", "placement": "bottom", "showLegend": true},
			"tooltip": map[string]any{"mode": "multi", "sort": "desc"}},
	}
	for i, qq := range qs {
		p.Targets = append(p.Targets, Target{Expr: qq.expr, LegendFormat: qq.legend, RefID: string(rune('A' + i)), Datasource: prom})
	}
	b.panels = append(b.panels, p)
	b.x += w
}

// Dashboard returns the dashboard model.
func Dashboard() map[string]any {
	var b builder
	b.row("Produce and fetch")
	b.ts("Produce rate", "short", "Records appended to hot logs per second, by node.",
		q{"sum by (instance) (" + rate("strata_broker_appended_records_total", "") + ")", "{{instance}} records/s"})
	b.ts("Produce and fetch bytes", "Bps", "RecordBatch bytes appended by produce and returned by fetch, split by the tier that served them.",
		q{"sum(" + rate("strata_broker_appended_bytes_total", "") + ")", "produced"},
		q{"sum(" + rate("strata_broker_fetched_bytes_total", "") + ") - sum(" + rate("strata_broker_fetched_tiered_bytes_total", "") + ")", "fetched (hot)"},
		q{"sum(" + rate("strata_broker_fetched_tiered_bytes_total", "") + ")", "fetched (object storage)"})
	b.ts("Kafka requests by API", "reqps", "Kafka requests received per second.",
		q{"sum by (api) (" + rate("strata_kafka_requests_total", "") + ")", "{{api}}"})
	b.ts("Produce latency", "s", "Time from a Produce request's arrival to its response being ready (with acks=all: after the fsync, or the object upload for strata.durability=object).",
		q{quantile("0.5", "strata_kafka_request_duration_seconds", `api="Produce"`, ""), "p50"},
		q{quantile("0.99", "strata_kafka_request_duration_seconds", `api="Produce"`, ""), "p99"},
		q{quantile("0.999", "strata_kafka_request_duration_seconds", `api="Produce"`, ""), "p99.9"})
	b.ts("Fetch latency", "s", "Time to answer a Fetch, long-poll wait included: a high p50 near the clients' fetch.max.wait.ms means consumers are caught up.",
		q{quantile("0.5", "strata_kafka_request_duration_seconds", `api="Fetch"`, ""), "p50"},
		q{quantile("0.99", "strata_kafka_request_duration_seconds", `api="Fetch"`, ""), "p99"})
	b.ts("Hot-log fsync latency", "s", "Group-commit fsyncs and segment seals.",
		q{quantile("0.5", "strata_hotlog_fsync_duration_seconds", "", ""), "p50"},
		q{quantile("0.99", "strata_hotlog_fsync_duration_seconds", "", ""), "p99"})
	b.ts("Batches per fsync", "short", "Record batches appended per fsync: how much each group commit gathers.",
		q{"sum(" + rate("strata_hotlog_appended_batches_total", "") + ") / clamp_min(sum(" + rate("strata_hotlog_fsync_duration_seconds_count", "") + "), 1e-9)", "batches/fsync"})
	b.ts("Produce errors", "short", "Rejected batches by reason, duplicate idempotent retries, and handler panics (should be 0).",
		q{"sum by (reason) (" + rate("strata_broker_produce_errors_total", "") + ")", "rejected: {{reason}}"},
		q{"sum(" + rate("strata_broker_duplicate_batches_total", "") + ")", "duplicates"},
		q{"sum(" + rate("strata_kafka_handler_panics_total", "") + ")", "handler panics"})
	b.ts("Connections and leadership", "short", "Open Kafka connections and partitions led, by node.",
		q{"sum by (instance) (strata_kafka_connections{" + sel + "})", "{{instance}} connections"},
		q{"sum by (instance) (strata_broker_led_partitions{" + sel + "})", "{{instance}} led partitions"})
	b.ts("Network bytes", "Bps", "Kafka request and response bytes.",
		q{"sum(" + rate("strata_kafka_request_bytes_total", "") + ")", "in"},
		q{"sum(" + rate("strata_kafka_response_bytes_total", "") + ")", "out"})

	b.row("Tiers")
	b.ts("Upload backlog", "bytes", "Sealed hot-log segments not yet uploaded and registered. Growing without bound means object storage cannot keep up.",
		q{"sum by (instance) (strata_tier_upload_backlog_bytes{" + sel + "})", "{{instance}} bytes"})
	b.ts("Upload backlog segments", "short", "Sealed segments waiting for upload.",
		q{"sum by (instance) (strata_tier_upload_backlog_segments{" + sel + "})", "{{instance}} segments"})
	b.ts("Tier sizes", "bytes", "Bytes on disk in each node's hot logs, and bytes of the objects registered in the catalogs of the partitions each node tiers.",
		q{"sum by (instance) (strata_hotlog_bytes{" + sel + "})", "{{instance}} hot"},
		q{"sum by (instance) (strata_tier_catalog_bytes{" + sel + "})", "{{instance}} tiered"})
	b.ts("Hot vs tiered flow", "Bps", "Bytes entering the hot tier against bytes leaving it for object storage; with the backlog they show whether the tiers keep pace.",
		q{"sum(" + rate("strata_hotlog_appended_bytes_total", "") + ")", "into hot log"},
		q{"sum(" + rate("strata_tier_uploaded_bytes_total", "") + ")", "uploaded"},
		q{"sum(" + rate("strata_tier_uploads_total", "") + ")", "segments uploaded/s"})
	b.ts("Upload latency", "s", "From the start of a segment's upload to its registration, retries included.",
		q{quantile("0.5", "strata_tier_upload_duration_seconds", "", ""), "p50"},
		q{quantile("0.99", "strata_tier_upload_duration_seconds", "", ""), "p99"})
	b.ts("Block cache", "percentunit", "Share of cross-tier block lookups served from memory; cache size in the tooltip of the second series.",
		q{"sum(" + rate("strata_tier_cache_hits_total", "") + ") / clamp_min(sum(" + rate("strata_tier_cache_hits_total", "") + ") + sum(" + rate("strata_tier_cache_misses_total", "") + "), 1e-9)", "hit ratio"})
	b.ts("Block cache size", "bytes", "Bytes held by the block cache, evictions and read-ahead.",
		q{"sum by (instance) (strata_tier_cache_bytes{" + sel + "})", "{{instance}} cached"},
		q{"sum(" + rate("strata_tier_cache_evictions_total", "") + ")", "evictions/s"},
		q{"sum(" + rate("strata_tier_readahead_blocks_total", "") + ")", "read-ahead blocks/s"})
	b.ts("Retention and deletes", "short", "Local segments deleted after upload, tiered segments dropped by retention, objects deleted and pending deletion.",
		q{"sum(" + rate("strata_tier_local_segments_deleted_total", "") + ")", "local segments deleted/s"},
		q{"sum(" + rate("strata_tier_retention_segments_dropped_total", "") + ")", "tiered segments dropped/s"},
		q{"sum(" + rate("strata_tier_objects_deleted_total", "") + ")", "objects deleted/s"},
		q{"sum(strata_tier_delete_pending_objects{" + sel + "})", "objects pending delete"})
	b.ts("Tiering errors", "short", "Failed tiering steps by operation, fenced partitions, corrupt objects and partitions given up because their hot log failed (all should be 0).",
		q{"sum by (op) (" + rate("strata_tier_errors_total", "") + ")", "{{op}}"},
		q{"sum(" + rate("strata_tier_fenced_total", "") + ")", "fenced"},
		q{"sum(" + rate("strata_tier_corrupt_objects_total", "") + ")", "corrupt objects"},
		q{"sum(" + rate("strata_broker_log_failures_total", "") + ")", "hot-log failures"})
	b.ts("Segments rolled", "short", "Hot-log segments sealed per second.",
		q{"sum(" + rate("strata_hotlog_segments_rolled_total", "") + ")", "rolled/s"})

	b.row("Compaction")
	b.ts("Merges", "short", "Small tiered segments merged into bigger objects: merges swapped in and input segments replaced per second.",
		q{"sum(" + rate("strata_compaction_merges_total", "") + ")", "merges/s"},
		q{"sum(" + rate("strata_compaction_input_segments_total", "") + ")", "inputs/s"})
	b.ts("Compaction bytes", "Bps", "Bytes of merged objects written, and bytes of orphaned objects the sweeper deleted.",
		q{"sum(" + rate("strata_compaction_written_bytes_total", "") + ")", "merged"},
		q{"sum(" + rate("strata_compaction_sweep_bytes_total", "") + ")", "swept"})
	b.ts("Merge latency", "s", "From a merge's first input GET to its catalog swap.",
		q{quantile("0.5", "strata_compaction_merge_duration_seconds", "", ""), "p50"},
		q{quantile("0.99", "strata_compaction_merge_duration_seconds", "", ""), "p99"})
	b.ts("Compaction errors and sweeps", "short", "Failed steps by operation and merges not swapped in by reason (should stay near 0), and orphans swept by reason.",
		q{"sum by (op) (" + rate("strata_compaction_errors_total", "") + ")", "error {{op}}"},
		q{"sum by (reason) (" + rate("strata_compaction_aborted_merges_total", "") + ")", "aborted {{reason}}"},
		q{"sum by (reason) (" + rate("strata_compaction_sweep_deleted_total", "") + ")", "swept {{reason}}"})

	b.row("Consumers")
	b.ts("Consumer lag", "short", "Records between each group's committed offset and the high watermark, summed over partitions (exported by each partition's leader).",
		q{"sum by (group, topic) (strata_group_consumer_lag_records{" + sel + "})", "{{group}} / {{topic}}"})
	b.ts("Group members", "short", "Members of each group, on its coordinator.",
		q{"sum by (group) (strata_group_members{" + sel + "})", "{{group}}"})
	b.ts("Rebalances and commits", "short", "Rebalances started and offsets committed per second.",
		q{"sum(" + rate("strata_group_rebalances_total", "") + ")", "rebalances/s"},
		q{"sum(" + rate("strata_group_offset_commits_total", "") + ")", "offset commits/s"})

	b.row("Object store")
	b.ts("Object store operations", "ops", "Calls per second by operation.",
		q{"sum by (op) (" + rate("strata_objstore_operations_total", "") + ")", "{{op}}"})
	b.ts("Object store errors", "ops", "Failed calls per second by operation (not-found and already-exists are answers, not errors).",
		q{"sum by (op) (" + rate("strata_objstore_errors_total", "") + ")", "{{op}}"})
	b.ts("Object store bytes", "Bps", "Bytes written by PUTs and read from GET bodies.",
		q{"sum by (direction) (" + rate("strata_objstore_bytes_total", "") + ")", "{{direction}}"},
		q{"sum(" + rate("strata_tier_get_bytes_total", "") + ")", "fetched by the block cache"},
		q{"sum(" + rate("strata_tier_read_bytes_total", "") + ")", "record bytes served from objects"})
	b.ts("Object store latency p99", "s", "Time until a call answers (reads: until the body starts), by operation.",
		q{quantile("0.99", "strata_objstore_operation_duration_seconds", "", "op"), "{{op}}"},
		q{quantile("0.99", "strata_tier_get_duration_seconds", "", ""), "block-cache GET"})
	b.ts("Bytes per PUT", "bytes", "Average object size written: small objects mean many PUTs per GiB.",
		q{`sum(` + rate("strata_objstore_bytes_total", `direction="write"`) + `) / clamp_min(sum(` + rate("strata_objstore_operations_total", `op="put"`) + `), 1e-9)`, "bytes/PUT"})

	b.row("Metadata and process")
	b.ts("Metadata latency p99", "s", "NATS JetStream KV store methods, by method.",
		q{quantile("0.99", "strata_metadata_op_duration_seconds", "", "op"), "{{op}}"})
	b.ts("Metadata retries and conflicts", "short", "Calls re-sent after a timeout or failover, and lost compare-and-swaps.",
		q{"sum by (call) (" + rate("strata_metadata_call_retries_total", "") + ")", "retry {{call}}"},
		q{"sum by (bucket) (" + rate("strata_metadata_cas_conflicts_total", "") + ")", "CAS conflict {{bucket}}"})
	b.ts("Process", "short", "CPU cores used and goroutines by node.",
		q{"rate(process_cpu_seconds_total{" + sel + "}[$__rate_interval])", "{{instance}} CPU cores"},
		q{"go_goroutines{" + sel + "}", "{{instance}} goroutines"})
	b.ts("Memory", "bytes", "Resident memory by node.",
		q{"process_resident_memory_bytes{" + sel + "}", "{{instance}}"})

	return map[string]any{
		"uid":           "strata-overview",
		"title":         "Strata",
		"description":   "Produce and fetch, tiers and upload backlog, consumer lag, object store and metadata of Strata nodes.",
		"tags":          []string{"strata", "kafka"},
		"schemaVersion": 39,
		"version":       1,
		"editable":      true,
		"timezone":      "browser",
		"refresh":       "10s",
		"time":          map[string]any{"from": "now-1h", "to": "now"},
		"annotations":   map[string]any{"list": []any{}},
		"links":         []any{},
		"templating": map[string]any{"list": []any{
			map[string]any{"name": "datasource", "label": "Prometheus", "type": "datasource", "query": "prometheus",
				"current": map[string]any{}, "hide": 0, "refresh": 1},
			map[string]any{"name": "instance", "label": "Node", "type": "query", "datasource": prom,
				"definition": "label_values(strata_kafka_connections, instance)",
				"query":      map[string]any{"query": "label_values(strata_kafka_connections, instance)", "refId": "instance"},
				"includeAll": true, "multi": true, "allValue": ".*", "refresh": 2, "sort": 1,
				"current": map[string]any{"text": "All", "value": "$__all"}},
		}},
		"panels": b.panels,
	}
}

// JSON renders the dashboard as the committed file holds it.
func JSON() ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(Dashboard()); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

var metricRE = regexp.MustCompile(`\b(?:strata|go|process)_[a-z0-9_]+`)

// Metrics returns the metric names the dashboard's queries use, histogram suffixes removed, sorted.
func Metrics() []string {
	seen := map[string]bool{}
	for _, p := range Dashboard()["panels"].([]Panel) {
		for _, t := range p.Targets {
			for _, m := range metricRE.FindAllString(t.Expr, -1) {
				for _, suf := range []string{"_bucket", "_sum", "_count"} {
					if n := len(m) - len(suf); n > 0 && m[n:] == suf {
						m = m[:n]
					}
				}
				seen[m] = true
			}
		}
	}
	out := make([]string, 0, len(seen))
	for m := range seen {
		out = append(out, m)
	}
	slices.Sort(out)
	return out
}

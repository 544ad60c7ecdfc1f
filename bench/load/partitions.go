package load

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// ScenarioPartitions measures what idle partitions cost a node: a topic of Params.IdlePartitions is
// created, the time until every partition has a leader is the row's Seconds, and then, with no
// traffic at all for Params.IdleWindow, the server's CPU (process_cpu_seconds_total, as a percent
// of one core) and its metadata writes per second (every metadata operation that is not a get or a
// list). Strata only: it reads Strata's /metrics.
const ScenarioPartitions = "partitions"

// metadataReadOps are the metadata operations that write nothing (op label prefixes).
var metadataReadOps = []string{"get_", "list_"}

// metadataWrites sums the metadata operations of s that write.
func metadataWrites(s Samples) float64 {
	var n float64
	for _, smp := range s {
		if smp.Name != "strata_metadata_op_duration_seconds_count" {
			continue
		}
		read := false
		for _, p := range metadataReadOps {
			read = read || strings.HasPrefix(smp.Labels["op"], p)
		}
		if !read {
			n += smp.Value
		}
	}
	return n
}

// IdlePartitions runs the partitions scenario (see ScenarioPartitions) and deletes its topic.
func IdlePartitions(ctx context.Context, t Target, p Params) (Result, error) {
	r := Result{Name: ScenarioPartitions, System: t.Broker.System()} // the count is in Note: one row per run
	url := t.Broker.MetricsURL()
	if url == "" {
		r.Skipped = "the system exposes no metrics the harness reads"
		return r, nil
	}
	cl, err := kgo.NewClient(clientOpts(t, kgo.RequestTimeoutOverhead(p.IdleLeadTimeout))...)
	if err != nil {
		return r, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	name := fmt.Sprintf("bench-idle-%d", time.Now().UnixNano())
	cfg := map[string]*string{}
	for k, v := range t.TopicConfigs {
		cfg[k] = &v
	}
	start := time.Now()
	resp, err := adm.CreateTopic(ctx, p.IdlePartitions, 1, cfg, name)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		return r, fmt.Errorf("create topic %s: %w", name, err)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.IdleLeadTimeout)
		defer cancel()
		_, _ = adm.DeleteTopic(dctx, name)
	}()
	led := 0
	for deadline := start.Add(p.IdleLeadTimeout); ; {
		led = 0
		if md, err := adm.Metadata(ctx, name); err == nil {
			if td, ok := md.Topics[name]; ok {
				for _, pd := range td.Partitions {
					if pd.Err == nil && pd.Leader >= 0 {
						led++
					}
				}
			}
		}
		if led == int(p.IdlePartitions) {
			break
		}
		if time.Now().After(deadline) {
			r.Skipped = fmt.Sprintf("failed: %d of %d partitions led after %v", led, p.IdlePartitions, p.IdleLeadTimeout)
			return r, nil
		}
		select {
		case <-ctx.Done():
			return r, ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
	r.Seconds = time.Since(start).Seconds()
	// Let the takes' aftermath (first uploads of empty logs, catalog watches) settle first.
	select {
	case <-ctx.Done():
		return r, ctx.Err()
	case <-time.After(p.IdleSettle):
	}
	before, err := Scrape(ctx, url)
	if err != nil {
		return r, err
	}
	began := time.Now()
	select {
	case <-ctx.Done():
		return r, ctx.Err()
	case <-time.After(p.IdleWindow):
	}
	after, err := Scrape(ctx, url)
	if err != nil {
		return r, err
	}
	secs := time.Since(began).Seconds()
	cpu := after.Sum("process_cpu_seconds_total", nil) - before.Sum("process_cpu_seconds_total", nil)
	r.IdleCPUPct = 100 * cpu / secs
	r.MetadataWritesPerS = (metadataWrites(after) - metadataWrites(before)) / secs
	r.Note = fmt.Sprintf("%d partitions led %.1f s after CreateTopics; idle for %.0f s", led, r.Seconds, secs)
	return r, nil
}

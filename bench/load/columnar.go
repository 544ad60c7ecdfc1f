package load

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Columnar measures the Parquet cold tier (strata.cold.format=parquet) on 1 KiB JSON log records.
// Four 4-partition topics get the same ColumnarBytes of records: one sent uncompressed and one sent
// with zstd, both strata.value.format=json, one sent with zstd as strata.value.format=json-columns
// (values the columns rebuild are not stored twice), and one that stays in segments. They start as segment
// topics of 16 MiB segments (at least a merge's input limit: none is merged, so the listing holds
// each segment once); after the writes segment.ms=1000 rolls their active segments, and once every
// segment is in the object store (the listing still for 3 s) the three JSON topics are switched to
// parquet one after the other, each switch timed until Parquet objects hold every offset. The
// figures:
//
//	parquet_vs_segment, _zstd   Parquet bytes ÷ the segment bytes they replaced (uncompressed, zstd producer)
//	parquet_vs_segment_zstd_columns   the same for the json-columns topic (zstd producer)
//	convert_mb_per_s, _zstd, _zstd_columns
//	                            record value MB converted per second, from the switch until the last
//	                            object is in (includes the wait for the next 1 s compaction pass)
//	convert_encode_mb_per_s, _zstd, _zstd_columns
//	                            the same MB over the compaction worker's time encoding them
//	                            (strata_compaction_convert_seconds_total; one worker, one core at
//	                            most: the conversion's speed per core, GETs and PUTs left out)
//	replay_first_parquet_vs_segment
//	                            cold replay over Kafka Fetch of the Parquet topic ÷ of the segment topic
//	                            (the same records; local.retention.ms=0 dropped the hot copies; read
//	                            segment, Parquet, Parquet, segment): each side's first read, whose
//	                            object bytes come from the object store (the goal's figure)
//	replay_again_parquet_vs_segment
//	                            the same over each side's second read: when the topic fits the node's
//	                            block cache, its bytes come from there (Parquet is still rebuilt)
//	replay_parquet_vs_segment   the same over each side's two reads
//	replay_first_parquet_cpu_s_per_gib, replay_first_segment_cpu_s_per_gib
//	                            the node's CPU seconds per GiB read in each side's first read
//
// The result's MB/s is the Parquet replay's.
func Columnar(ctx context.Context, tt tableTarget, p Params) (Result, error) {
	r := Result{Name: ScenarioColumnar, System: SystemStrata, Figures: map[string]float64{}}
	t := tt.Target
	const parts = 4
	stamp := time.Now().UnixNano()
	plain, zstd, seg := fmt.Sprintf("bench-columnar-json-%d", stamp), fmt.Sprintf("bench-columnar-json-zstd-%d", stamp),
		fmt.Sprintf("bench-columnar-segment-%d", stamp)
	zcols := fmt.Sprintf("bench-columnar-json-columns-zstd-%d", stamp)
	base := map[string]string{"segment.bytes": "16777216"}
	withJSON := map[string]string{"segment.bytes": "16777216", "strata.value.format": "json"}
	withColumns := map[string]string{"segment.bytes": "16777216", "strata.value.format": "json-columns"}
	start, err := Scrape(ctx, t.Broker.MetricsURL())
	if err != nil {
		return r, err
	}
	n := max(p.ColumnarBytes/int64(p.RecordSize), 1)
	now := time.Now().UnixMilli()
	ts := func(i int64) int64 { return now - n + i } // a record a millisecond, ending now
	var written int64
	for _, tc := range []struct {
		topic string
		cfg   map[string]string
		codec kgo.CompressionCodec
	}{{plain, withJSON, kgo.NoCompression()}, {zstd, withJSON, kgo.ZstdCompression()}, {zcols, withColumns, kgo.ZstdCompression()},
		{seg, base, kgo.NoCompression()}} {
		if err := CreateTopic(ctx, t, tc.topic, parts, tc.cfg); err != nil {
			return r, err
		}
		if written, err = produceLogs(ctx, t, tc.topic, n, p.RecordSize, 10, ts, tc.codec, p.ProduceTimeout); err != nil {
			return r, err
		}
		if err := alterTopicConfig(ctx, t, tc.topic, "segment.ms", "1000"); err != nil {
			return r, fmt.Errorf("segment.ms=1000 on %s: %w", tc.topic, err)
		}
	}
	infos := map[string]topicInfo{}
	segBytes := map[string]int64{}
	for _, topic := range []string{plain, zstd, zcols, seg} {
		info, err := describeTopic(ctx, t, topic)
		if err != nil {
			return r, err
		}
		infos[topic] = info
		s, err := waitStable(ctx, tt.bucket, info.id, 3*time.Second, 2*time.Minute)
		if err != nil {
			return r, fmt.Errorf("segments of %s: %w", topic, err)
		}
		segBytes[topic] = s.segBytes
	}

	// Conversion, one topic at a time.
	for _, c := range []struct{ topic, suffix string }{{plain, ""}, {zstd, "_zstd"}, {zcols, "_zstd_columns"}} {
		const encodeSeconds = "strata_compaction_convert_seconds_total"
		before, err := Scrape(ctx, t.Broker.MetricsURL())
		if err != nil {
			return r, err
		}
		began := time.Now()
		if err := alterTopicConfig(ctx, t, c.topic, "strata.cold.format", "parquet"); err != nil {
			return r, fmt.Errorf("switch %s to parquet: %w", c.topic, err)
		}
		s, err := waitConverted(ctx, tt.bucket, infos[c.topic], 5*time.Minute)
		if err != nil {
			return r, err
		}
		secs := time.Since(began).Seconds()
		after, err := Scrape(ctx, t.Broker.MetricsURL())
		if err != nil {
			return r, err
		}
		if enc := after.Sum(encodeSeconds, nil) - before.Sum(encodeSeconds, nil); enc > 0 {
			r.Figures["convert_encode_mb_per_s"+c.suffix] = float64(written) / 1e6 / enc
		}
		r.Figures["segment_bytes"+c.suffix] = float64(segBytes[c.topic])
		r.Figures["parquet_bytes"+c.suffix] = float64(s.parquetBytes)
		if segBytes[c.topic] > 0 {
			r.Figures["parquet_vs_segment"+c.suffix] = float64(s.parquetBytes) / float64(segBytes[c.topic])
		}
		r.Figures["convert_mb_per_s"+c.suffix] = float64(written) / 1e6 / secs
		r.Figures["convert_seconds"+c.suffix] = secs
		tt.Log.Info("columnar: converted", "topic", c.topic, "segment_bytes", segBytes[c.topic], "parquet_bytes", s.parquetBytes,
			"objects", len(s.parquets), "seconds", secs)
	}

	// Cold replay: the hot copies go; then segment, Parquet, Parquet, segment.
	for _, topic := range []string{plain, zstd, zcols, seg} {
		if err := alterTopicConfig(ctx, t, topic, "local.retention.ms", "0"); err != nil {
			return r, fmt.Errorf("local.retention.ms=0 on %s: %w", topic, err)
		}
	}
	const uploads, dropped = "strata_tier_uploads_total", "strata_tier_local_segments_deleted_total"
	for deadline := time.Now().Add(p.HotDropTimeout); ; {
		s, err := Scrape(ctx, t.Broker.MetricsURL())
		if err != nil {
			return r, err
		}
		up, del := s.Sum(uploads, nil)-start.Sum(uploads, nil), s.Sum(dropped, nil)-start.Sum(dropped, nil)
		if up > 0 && del >= up {
			break
		}
		if time.Now().After(deadline) {
			return r, fmt.Errorf("hot copies not dropped after %v: %v of %v uploaded segments deleted locally", p.HotDropTimeout, del, up)
		}
		time.Sleep(250 * time.Millisecond)
	}
	const all, cold = "strata_broker_fetched_bytes_total", "strata_broker_fetched_tiered_bytes_total"
	var mbps = map[string][]float64{}
	var notes []string
	var pq Result
	var cpuPerGiB = map[string][]float64{}
	for _, topic := range []string{seg, plain, plain, seg} {
		pre, err := Scrape(ctx, t.Broker.MetricsURL())
		if err != nil {
			return r, err
		}
		c, err := Consume(ctx, t, p, topic)
		if err != nil {
			return r, err
		}
		post, err := Scrape(ctx, t.Broker.MetricsURL())
		if err != nil {
			return r, err
		}
		if c.Note != "" {
			notes = append(notes, topic+": "+c.Note)
		}
		if c.Records != n {
			notes = append(notes, fmt.Sprintf("%s: read %d of %d records", topic, c.Records, n))
		}
		if f := post.Sum(all, nil) - pre.Sum(all, nil); f > 0 {
			if share := (post.Sum(cold, nil) - pre.Sum(cold, nil)) / f; share < 0.99 {
				notes = append(notes, fmt.Sprintf("%s: only %.0f%% of fetched bytes from object storage", topic, 100*share))
			}
		}
		mbps[topic] = append(mbps[topic], c.MBPerS)
		if c.Bytes > 0 {
			const cpu = "process_cpu_seconds_total"
			cpuPerGiB[topic] = append(cpuPerGiB[topic], (post.Sum(cpu, nil)-pre.Sum(cpu, nil))/(float64(c.Bytes)/(1<<30)))
		}
		tt.Log.Info("columnar: replayed", "topic", topic, "mb_per_s", c.MBPerS, "seconds", c.Seconds)
		if topic == plain {
			pq = c
		}
	}
	mean := func(vs []float64) float64 { return (vs[0] + vs[1]) / 2 }
	r.Figures["replay_parquet_mb_per_s"] = mean(mbps[plain])
	r.Figures["replay_segment_mb_per_s"] = mean(mbps[seg])
	if s := mean(mbps[seg]); s > 0 {
		r.Figures["replay_parquet_vs_segment"] = mean(mbps[plain]) / s
	}
	// segment, Parquet, Parquet, segment: each side's first read is mbps[...][0].
	if s := mbps[seg][0]; s > 0 {
		r.Figures["replay_first_parquet_vs_segment"] = mbps[plain][0] / s
	}
	if s := mbps[seg][1]; s > 0 {
		r.Figures["replay_again_parquet_vs_segment"] = mbps[plain][1] / s
	}
	if len(cpuPerGiB[plain]) > 0 && len(cpuPerGiB[seg]) > 0 {
		r.Figures["replay_first_parquet_cpu_s_per_gib"] = cpuPerGiB[plain][0]
		r.Figures["replay_first_segment_cpu_s_per_gib"] = cpuPerGiB[seg][0]
	}
	r.SetThroughput(pq.Records, pq.Bytes, time.Duration(pq.Seconds*float64(time.Second)))
	r.MBPerS = mean(mbps[plain])
	r.Note = strings.Join(notes, "; ")
	return r, nil
}

// Package load is Strata's benchmark harness: a franz-go load generator, the scenarios that run it
// against a broker (Strata or Apache Kafka, same client settings), the brokers' lifecycles (started
// and stopped by process id), the scrape of Strata's Prometheus counters around each scenario, and
// the reports (summary JSON, a markdown table of Strata/Kafka ratios against the goals, PNG plots).
//
// Scenarios:
//
//	produce  1 KiB records, acks=all, idempotent, 1 and 12 partitions, as fast as the broker takes
//	         them, a fixed byte budget per run (both systems move the same bytes)
//	consume  hot read of the 12-partition produce topic from its start by a fresh client
//	latency  a fixed record rate; each record carries its send time (8 bytes, big-endian Unix
//	         nanoseconds, at the start of the value) so a consumer in the same process measures
//	         end-to-end latency next to the producer's ack latency
//	replay   cold read after the broker has dropped its hot copy (Strata: local.retention.ms=0);
//	         compared with raw MinIO GET bandwidth; skipped with a reason when the broker keeps
//	         serving from its hot log
//	object   the latency scenario on a topic with strata.durability=object; skipped with a reason
//	         when an acked produce caused no object PUT
//
// The pure parts (percentiles, CDFs, the summary, the ratio table, the Prometheus text parser) need
// no broker and are unit tested; the rest is driven by cmd/strata-bench.
//
// Concurrency: a Recorder is safe for concurrent Observe calls; everything else is used by one
// goroutine (the harness) at a time.
package load

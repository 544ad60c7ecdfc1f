// Package compat is the real-client compatibility suite: it runs one scenario with every Kafka
// client Strata promises to serve unchanged, over real TCP, and checks what each client saw.
// The package holds tests only; this file exists to carry the contract.
//
// # Scenario (the same for every client)
//
//  1. Create topic T with 3 partitions (kcat cannot create topics: the test does it with kadm).
//  2. Produce 10,000 records, key "k<i%100>", value "v<i>", idempotent producer, acks=all.
//  3. Consumer A joins group G (offsets reset to earliest, auto-commit off), processes records
//     and commits the processed offsets synchronously after each batch; after about half of
//     the records it closes cleanly (leaving the group).
//  4. Consumer B joins G, must resume exactly at A's committed offsets, and reads the rest.
//  5. The client prints one JSON line and exits non-zero on any missing or duplicate record.
//
// The summary line:
//
//	{"client":"java","produced":10000,"consumed":10000,"first_consumer":5000,
//	 "second_consumer":5000,"duplicates":0,"missing":0,"per_partition_in_order":true}
//
// "duplicates" counts records seen twice across A and B (B re-reading A's work means the
// commit or the resume failed); "missing" counts acknowledged records neither saw;
// "per_partition_in_order" says offsets and sequence numbers only grew within each partition.
//
// # Clients
//
// franz-go (kgo, kadm) and IBM/sarama run in the test process. kcat, kafkajs, the Java
// kafka-clients and confluent-kafka (Python) are programs under testdata/compat, installed by
// `make clients` (testdata/compat/install.sh). The Java client runs as kafka-clients 4.3 with
// classic groups, as 3.9 (an older line still common), with KIP-848 groups
// (group.protocol=consumer) where the broker advertises ConsumerGroupHeartbeat, and with a
// KIP-932 share group (two KafkaShareConsumers) where it advertises ShareFetch.
//
// Sarama runs at its default protocol level (2.8) and at the newest it knows.
//
// Beyond the scenario:
//   - two franz-go members share a group through a live rebalance (cooperative-sticky and
//     eager range): a partition that changes owner continues at its committed offset;
//   - franz-go produces and reads back with every compression codec;
//   - Apache Kafka's console tools (kafka-topics, kafka-console-producer/-consumer,
//     kafka-consumer-groups, kafka-get-offsets) create, fill, read, inspect and reset a topic
//     and its group, then delete both;
//   - a Kafka Connect distributed worker copies a file through a topic with the FileStream
//     source and sink connectors;
//   - against a third server compacting every 200 ms (TestConnectRestartCompacted), a Connect
//     worker is restarted once its config, offset and status topics (cleanup.policy=compact)
//     were compacted: it resumes with its connector configs and source offsets, re-sending
//     nothing (skipped against STRATA_COMPAT_BOOTSTRAP);
//   - a Kafka Streams word count with processing.guarantee=exactly_once_v2
//     (TestStreamsExactlyOnce: a repartition topic, a compacted changelog) is killed with SIGKILL
//     while a transaction holds records of its output and restarted on its state directory: a
//     read_committed consumer must see each word's counts 1, 2, ... n exactly once;
//   - against a second server with --sasl-users, kcat and sarama run the scenario with
//     SCRAM-SHA-256 and SCRAM-SHA-512, and kcat with a wrong password is refused.
//
// A librdkafka "PROTOERR" log line (a response the client could not parse) fails a subtest
// even when the client recovered by retrying.
//
// # Target broker
//
// By default the test builds ./cmd/strata, starts `strata server` on free loopback ports with
// a temporary data directory, runs every client against it, then stops it with SIGTERM and
// expects exit status 0. With STRATA_COMPAT_BOOTSTRAP=host:port it uses that broker instead
// (for example Apache Kafka from bench/kafka/start.sh). A missing client tool skips its
// subtest, or fails it when STRATA_REQUIRE_TOOLS=1. Every subtest runs under a deadline and
// its processes are killed when it passes, so a hang fails instead of stalling the run.
package compat

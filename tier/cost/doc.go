// Package cost prices what a Strata node costs in object storage: the requests it made to the
// object store over a window, the bytes each tier holds, and the PUTs it made per GiB ingested.
//
// It owns three things, kept apart so the arithmetic can be checked by tables:
//
//   - Compute, a pure function from counter deltas, stored bytes and Prices to a Report. It does no
//     I/O and reads no clock.
//   - Sampler, which keeps periodic snapshots of the counters a report needs, read from the node's
//     prometheus.Gatherer, in a bounded ring, so a window's figures are counter deltas. One
//     goroutine owns the ring's writes; Close stops it and waits, and is idempotent.
//   - Reporter, which serves GET /v1/cost: it takes a fresh snapshot, picks the window's first
//     snapshot from the Sampler, sums the catalog's segment sizes per topic, and calls Compute.
//
// # Sources
//
//	requests by op     strata_objstore_operations_total{op}      counter delta over the window
//	ingested bytes     strata_broker_appended_bytes_total        counter delta over the window
//	                   (RecordBatch bytes accepted by produce, Kafka and NDJSON; duplicates not counted)
//	hot-log bytes      strata_hotlog_bytes                        gauge, now (this node's disk)
//	object bytes       the catalog: sum of SegmentRef.Size        now, every topic (shared by all nodes)
//
// Request counts are this node's: every object-store call of the node goes through one metrics
// decorator, so uploads, tiered reads, compaction's rewrites, sweeps and deletes are all in them.
// Object bytes are the cluster's, since every node shares one bucket and catalog.
//
// # Arithmetic
//
// S3 bills requests per 1,000 in two classes and storage per GB-month, where a GB is 2^30 bytes and
// a month is 730 hours. Each op is put in a class (Class): put and list (and copy, post) are the
// PUT class; get, get_range and head, and any op not named, the GET class ("GET and all other
// requests"); delete is free.
//
//	request cost       = count × class price / 1000                     (over the window)
//	monthly rate       = request cost × 730 h / window length
//	storage per month  = bytes / 2^30 × price per GB-month              (at today's size)
//	PUTs per GiB       = put count / (ingested bytes / 2^30)            (absent when nothing was ingested)
//
// # Windows
//
// The Sampler keeps its first snapshot (taken when the node started, before the object store was
// opened, so its counters are zero) for as long as it runs, and the newest Capacity periodic ones;
// every snapshot gathers the whole registry, as a scrape does. A report over window w ends now, at
// a snapshot read for it, and starts at the latest snapshot at or before now−w, so it covers at
// least w and at most w plus one interval (Pick). With no window it starts at the first snapshot.
// When the snapshots do not reach back to now−w — the node is younger than w, or the ring has let
// that far back go — the window starts at the oldest one that fits and the report says it was
// capped. The report gives the window it actually covers.
package cost

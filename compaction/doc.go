// Package compaction is Strata's stateless compaction worker. Today it merges runs of small
// consecutive segment objects of a partition into bigger ones, which keeps a busy partition's
// catalog (one metadata value per partition, size-capped) small and makes cold replays read few
// large objects instead of thousands of tiny ones. Retention of tiered data stays in tier; key
// compaction (cleanup.policy=compact) and Parquet copies are later additions.
//
// # Plans and the driver
//
// PlanMerges is a pure function of a catalog's segments and a Policy. The Worker is the driver: every
// Config.Interval it lists the live leases and, for each partition whose lease Config.NodeID holds,
// reads the catalog, plans, and runs each Merge:
//
//	GET every input whole (4 GETs in flight, in order); open it with tier/segment (footer magic, version, index CRC32C), check
//	    it covers exactly its catalog range, and copy its batches (each batch's CRC32C checked)
//	    verbatim into one new segment (format v1, fresh sparse index) in memory
//	PUT it if absent under tier.MergedObjectKey(prefix, topic, partition, base, next, lease epoch),
//	    a key no uploader writes
//	check the lease is still ours at the same epoch
//	ReplaceSegments(tp, lease epoch, input keys, [merged])   atomic compare-and-swap on the catalog
//	schedule the inputs' deletion after Config.DeleteGrace (tier.Deleter), so reads in flight finish
//
// The catalog is the truth. Merged bytes are exactly the inputs' batches, so a reader sees the same
// records before and after a swap. When the swap is refused (ErrFenced: a newer leader; ErrConflict:
// retention or another writer moved the catalog first) or the lease changed hands, the new object is
// deleted at once and the inputs stay. When the swap's outcome is unknown (a timeout) and a re-read
// of the catalog does not show the merged object, it is left in the bucket rather than risk
// deleting an object the catalog names. A corrupt or missing input skips that merge (logged with
// its key and counted); nothing is deleted and nothing panics.
//
// Merges run one at a time, each holding its output (at most Policy.TargetBytes plus one index) and
// up to five inputs in memory.
//
// # Concurrency
//
// A Worker owns one goroutine (the pass loop) and the Deleter's; Close stops both and waits, and is
// idempotent. RunOnce may be called from any goroutine; passes never overlap.
package compaction

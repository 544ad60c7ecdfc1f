// Package compaction is Strata's stateless compaction worker. Today it merges runs of small
// consecutive segment objects of a partition into bigger ones, which keeps a busy partition's
// catalog (one metadata value per partition, size-capped) small and makes cold replays read few
// large objects instead of thousands of tiny ones. It also sweeps orphaned objects, which no catalog
// will ever name (see Sweeping orphans), and compacts by key the partitions of topics with
// cleanup.policy=compact (see keycompact.go: the latest record of every key kept, offsets
// preserved, rewritten objects swapped in as merges are). Retention of tiered data stays in tier;
// Parquet copies are a later addition.
//
// # Plans and the driver
//
// PlanMerges is a pure function of a catalog's segments and a Policy. The Worker is the driver: every
// Config.Interval it lists the live leases and, for each partition whose lease Config.NodeID holds,
// reads the catalog, plans, and runs each Merge:
//
//	GET every input whole (4 GETs in flight, in order), or cut its byte range of a shared object
//	    from the pass's copy of it (see Shared objects below); open it with tier/segment (footer
//	    magic, version, index CRC32C), check it covers exactly its catalog range, and copy its
//	    batches (each batch's CRC32C checked) verbatim into one new segment (format v1, fresh
//	    sparse index) in memory
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
// up to five inputs in memory, beside the pass's window of shared objects.
//
// # Sweeping orphans
//
// Objects can be left in the bucket with nothing naming them: an upload whose registration a newer
// leader fenced, a merge whose swap had no answer, replaced or expired objects whose delayed delete
// (tier.Deleter, in memory) a restart lost, and the objects of deleted topics. Every
// Config.SweepInterval the Worker sweeps the partitions whose lease it holds (so each partition is
// swept by one node): it lists <prefix>/topics/<topic-id>/<partition>/, then reads the catalog, and
// judges each object with classify. An object is an orphan only when all of these hold:
//
//	its key parses (tier.ParseObjectKey or tier.ParquetObjectKey, canonical, under Config.Prefix);
//	    other keys are logged once and never touched
//	the catalog read after the listing does not name it
//	it is at least Config.SweepGrace old (its LastModified; an unknown time counts as new)
//	its epoch is not newer than the sweeper's lease
//	and either its epoch is older than the catalog's ("fenced": the store refuses every write under
//	    it, and keys always carry the epoch of the writer that registers them), or its whole range
//	    ends at or below the catalog's tiered end ("superseded": RegisterSegment only appends at the
//	    tiered end, so it can never be registered; an uploaded key does not say where it ends, so its
//	    footer is read to know)
//
// An object of an epoch the catalog does not fence, not wholly below the tiered end, is never
// deleted: it may be an upload waiting to register.
//
// Parquet objects (conversion, convert.go) are swept by the same rules. Their key names a range and
// no epoch (a retried conversion, by any leader, writes the same key), so one counts as written
// under the newest epoch that could still swap it in: it is kept while the catalog's epoch is
// older than the sweeper's lease (an older leader, not yet fenced, may be between its PUT and its
// swap), and is otherwise an orphan when its range ends at or below the tiered end. An object
// written again under its key between two sightings (its LastModified changed) starts over. An orphan is deleted only when a second sweep
// at least SweepGrace after the first one that judged it so still does: an object out of the
// catalog only moments ago (a merge's input in its DeleteGrace, a retention drop) keeps its grace
// for reads in flight however old it is. These sightings live in memory; a restart only delays.
//
// Deleted topics: the node with the lowest live node ID (Store.ListNodes; an unregistered
// node counts as lowest) also lists <prefix>/topics/ and deletes the objects of topic IDs absent from
// ListTopics read after the listing in two sweeps at least SweepGrace apart, once the objects are
// older than SweepGrace. Two nodes that briefly both think they are lowest only repeat idempotent
// deletes; one node listing the whole prefix per sweep, rather than every node, bounds the LIST cost.
// Partitions that no node leads are not swept until one does.
//
// Shared objects (tier.SharedObjectKey: one object-durability flush of a node, a byte range per
// partition) are merged window by window (window.go): a pass first plans every led partition's
// merges, takes the oldest shared objects they read up to Config.SharedWindowBytes (128 MiB), and
// reads each of those once, with one ranged GET of the span its planned ranges cover; every
// partition's ranges of them are cut from that copy, and merges are cut where their inputs leave
// the window. While planned ranges remain beyond it the next pass follows at once. Merging
// partition by partition with a ranged GET per range read each object once per partition: about
// 39,000 GETs of 5 KB for 256 partitions' 10 s of flushes at 20 MB/s, which competed with ingest
// for minutes. An object a merge could not read, or found corrupt, is left out of the windows for
// 10 minutes, so that they move on past it.
//
// Shared objects are deleted by reference, by the same node in the same pass (sweep_shared.go): it lists
// <prefix>/shared/, then reads every partition's catalog, and deletes an object no catalog names any
// range of, once it is older than max(SweepGrace, tier.SharedRegisterWindow) and a sweep at least
// that long before found it unreferenced too. Retention, DeleteRecords and merges only drop the
// references (tier.Deleter never deletes a shared object); a flush whose registrations never
// happened (a crash after its PUT) leaves an object nothing names, which goes the same way.
//
// # Concurrency
//
// A Worker owns one goroutine (the pass loop, which runs merge passes and sweeps) and the Deleter's;
// Close stops both and waits, and is idempotent. RunOnce and Sweep may be called from any goroutine;
// passes and sweeps never overlap.
package compaction

// Package tier is Strata's tiering engine: it owns reading a partition across its tiers
// (PartitionLog), uploads sealed hot-log segments to object storage, registers them in the
// metadata catalog under the partition leader's epoch, serves reads of tiered offsets through a
// block cache with read-ahead, and applies retention to tiered and local data. The format lives in
// tier/segment, object storage in tier/objstore, the local log in tier/hotlog.
//
// # PartitionLog (one partition, every tier)
//
// A PartitionLog is the one way to read a partition and to move its log start:
//
//	log start        local start         tiered end          high watermark   log end
//	    |---- objects only ----|---- both tiers ----|---- hot log only ----|··· not visible ···|
//
// Read(offset) serves offsets below the hot log's start from object storage (Reader) and the rest
// from the hot log, never past the high watermark (the fsynced offset, or the tiered end for
// strata.durability=object). ReadSpans is Read for a caller that writes to a socket itself: what
// it reads from the hot log comes back as hotlog.Spans, sent from the segment files by sendfile.
// Offsets, Earliest, OffsetForTimestamp, MaxTimestamp and LatestTiered
// answer ListOffsets; MoveLogStart (DeleteRecords, retention) moves the start in the catalog under
// the leader's epoch first, then in the hot log. The leader's broker builds one per led partition
// over its hot log and hands it to the Uploader (Track); any other node, or a worker such as
// compaction or query, builds one without the hot log and reads the tiered part, which then ends
// at the catalog's tiered end.
//
// # Objects
//
// A sealed hot segment is uploaded as it is (batches + sparse index + footer, see tier/segment), once,
// with Put-if-absent, under
//
//	<prefix>/topics/<topic-id: 32 hex>/<partition>/<base offset: 20 digits>-<leader epoch>.seg
//
// and then registered with metadata.Store.RegisterSegment under the same epoch. Objects are never
// rewritten: an identical object already under the key (a retry whose answer was lost) counts as
// success. The catalog is the truth: an object is readable only once registered, and leaves the
// catalog before it leaves the bucket.
//
// Object durability writes one object per flush per node instead (see Flushes), holding one segment
// image (batches + sparse index + footer, exactly as a standalone segment object) per partition,
// back to back:
//
//	<prefix>/shared/<node-id>/<written: Unix ns, 20 digits>-<nonce: 16 hex>.seg
//
//	+---------------------------+---------------------------+-----+
//	| partition a's image       | partition b's image       | ... |
//	| batches | index | footer  | batches | index | footer  |     |
//	+---------------------------+---------------------------+-----+
//	^ Position 0                ^ Position = size of a's
//
// Each partition's catalog names its range: metadata.SegmentRef.Key is the shared object's key,
// Position and Size the image's place in it (a whole object is Position 0, Size the object's size).
// A range is read exactly like a segment object, shifted by Position. A shared object is deleted
// only by the compaction sweeper, once no catalog names any range of it (retention, DeleteRecords
// and merges drop the references; the Deleter skips shared keys). ParseObjectKey parses all three
// layouts (ParsedKey.Shared for this one).
//
// # Uploader (leaders)
//
// Track starts one goroutine per partition the node leads (given as its PartitionLog); Untrack
// and Close stop it and wait. The goroutine:
//
//	read the catalog (tiered end, log start)
//	loop:
//	    upload + register every sealed segment above the tiered end, oldest first
//	        (bounded across partitions by Config.UploadConcurrency; failures back off and retry
//	        forever; the segment stays local until registered)
//	    catalog says ErrFenced → stop, call Config.OnFenced(tp)
//	    local retention: delete hot segments below min(tiered end, local.retention.* limit)
//	    every CheckInterval: retention.* on the catalog → PartitionLog.MoveLogStart, objects
//	        deleted after DeleteGrace
//	    object durability: tell the flusher when the active segment's new batches want flushing:
//	        FlushInterval after its oldest record was created (producer timestamp; at most
//	        FlushInterval after it arrived), so acks wait for one flush, not a flush plus the
//	        time the records queued in the client; Expedite (a producer's pipeline is full of
//	        waiting acks) brings it forward to FlushInterval/2 after the last flush; never
//	        sooner than 2/3 FlushInterval after the last flush (a whole FlushInterval when the
//	        flushes of the FlushInterval up to it carried half of SharedObjectBytes or more:
//	        fast streams fill objects instead)
//	    sleep until the log changes (appends and rolls wake it), PollInterval passes or the
//	        policy changes
//
// # Flushes (object durability)
//
// One flusher goroutine per Uploader serves every object-durability partition (flush.go):
//
//	at the earliest deadline a partition noted, or once Config.SharedObjectBytes (8 MiB) is
//	    pending: ask every noted partition for its new batches, all at once
//	each partition's goroutine takes them from its hot log (hotlog Log.Take: the active segment
//	    is not sealed, so a flush of hundreds of partitions creates no files), reads its batches
//	    from the end of what it already handed in up to there (sealed segments and the active
//	    one alike) and hands the flusher one segment image of them, or declines (nothing new,
//	    or 4 of its images already in flight)
//	once all have (or after 200 ms): PUT the images back to back as one shared object (up to
//	    4 PUTs in flight)
//	each partition registers its ranges in offset order, whatever order their PUTs end in,
//	    under its own epoch (within SharedRegisterWindow of the PUT, else it gives up and its
//	    data goes into a later flush); WaitTiered wakes
//
// A partition does not wait for one range to register before it hands in the next: a partition
// that did missed the next flush whenever that flush came during its PUT, and its batches then
// went alone, in an object of their own, while its producers' pipelines stalled. A range whose
// PUT or registration fails voids the ranges handed in after it (each was cut to follow it);
// they go again from the catalog's end.
//
// So a node writes at most 1.5 flush objects per FlushInterval (+1 per 8 MiB) whatever the
// partition count. A PUT that fails fails every image in it (each partition retries); a
// registration refused affects its partition alone. A crash between the PUT and the
// registrations acks nothing and leaves an object no catalog names, which the sweeper deletes.
//
// WaitTiered(tp, n) blocks until the tiered end reaches n; registration wakes it. TieredEnd and
// LatestTiered answer from the Uploader's view, which the partition goroutine refreshes.
//
// # Reader (any node)
//
// Read(tp, offset) resolves offset in the partition's catalog (cached; a WatchCatalogs goroutine
// drops changed entries, and nothing is cached while the watch is down), loads the segment's index
// once (footer + index through the block cache; cached by key and position: a range of a shared
// object is a segment of its own, its blocks aligned to its start), and reads whole batches through
// the block cache: aligned BlockSize ranges fetched by ranged GETs, one fetch per block however
// many readers want it, LRU-evicted at CacheBytes. A read that continues where the partition's
// last one ended starts fetches for the next ReadAheadBlocks blocks (crossing into later objects),
// consecutive blocks as one GET of up to ReadAheadGetBytes whose blocks are published as they
// arrive; the fetches belong to the Reader and go on between a consumer's requests. A read that
// lies in one cached block returns the cache's bytes uncopied (callers must not modify them).
// Every batch returned is CRC-checked; a bad footer, index, batch or size gives an error wrapping
// segment.ErrCorrupt that names the object key, never a panic.
//
// # Concurrency
//
// Uploader and Reader are safe for concurrent use. Each owns its goroutines and stops them in
// Close, which is idempotent and waits.
package tier

// Package hotlog is a node's hot local log: one directory per partition holding segment files in
// the tier/segment format, appended with group-commit fsync, rolled by size and age, recovered after
// a crash, and trimmed by local retention.
//
// # Layout
//
//	<root>/LOCK                          exclusive flock while a Dir is open
//	<root>/<name>/state                  start offset, truncation in progress: len | crc32c | version | payload
//	<root>/<name>/<base 20 digits>.seg   sealed segments: batches + index + footer (uploaded as they are)
//	<root>/<name>/<base 20 digits>.log   the active segment: batches only
//	<root>/<name>/*.corrupt              files that failed verification, set aside for inspection
//
// # Durability
//
// Append writes to the page cache and returns; WaitDurable waits for the Log's single flusher
// goroutine, which fsyncs once for every append pending at that moment and wakes all waiters.
// DurableOffset is the fsynced end; readers bounded by it (a high watermark) wait on
// DurableChanged, which also asks the flusher for an fsync, so they need no producer waiting.
// Sealing writes the index and footer, fsyncs, renames .log to .seg and fsyncs the directory. Small
// state goes through temp file → fsync → rename → directory fsync. A failed write or fsync is sticky:
// the Log refuses further work until it is reopened, because after a failed fsync the kernel may have
// dropped the dirty pages (what reached the disk is recovered on open). Failed is closed at that
// moment and Err says why, so the owner can stop serving the log, Close it, reopen it and
// TruncateTo the DurableOffset it had (what lies past it was never acknowledged, and a retried
// fsync may report success without having written it). Config.Sync replaces the segment files'
// fsync for fault injection in tests.
//
// # Take
//
// Take hands the active segment's batches so far to a reader without sealing it: Unrolled then
// describes only what came after, and Segments reports the part taken. Object durability flushes
// every partition of a node several times a second, and reads each one's new batches this way
// (ReadAppend reaches into the active segment), rather than sealing and creating a segment file per
// partition per flush. A truncation below the taken part takes it back with it.
//
// # Reads from the files
//
// ReadSpans finds the batches ReadAppend would read by their headers alone and returns them as
// Spans: ranges of the segment files, each with a duplicated descriptor, that a caller sends to a
// socket with sendfile (Spans.WriteTo) instead of copying them through memory. Segment bytes never
// change in place once below the end: appends go past it, and TruncateTo copies the batches it
// keeps to a new file renamed over the old one, so a send from a span taken earlier goes on
// sending the batches it found, even after retention removed the file.
//
// # Recovery
//
// On first open a sealed file is verified by its footer (magic, version, CRC32C); a bad one is logged
// and renamed .corrupt, never deleted. The active file is scanned from byte 0, cut at the first torn
// or invalid batch, and fsynced. If segments do not line up (a gap left by a set-aside file), the
// newest contiguous run is kept and older files are set aside.
//
// # Concurrency
//
// A Dir and its Logs are safe for concurrent use. Appends serialize on one mutex; reads and fsyncs
// run beside them. Callers needing check-then-append atomicity (idempotent producer sequences) hold
// their own lock around it.
package hotlog

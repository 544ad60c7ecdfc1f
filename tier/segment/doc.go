// Package segment owns Strata's bytes on disk and in objects: the segment format (the bytes of a
// hot-log file and, once sealed, of the object uploaded to object storage, as it is), the Kafka
// RecordBatch v2 checks and edits made on them, and the local frame of small state files.
//
// A segment is Kafka RecordBatch v2 bytes back to back, exactly as producers sent them (compressed
// batches stay compressed), followed by a sparse index and a fixed-size footer. All integers are
// big-endian.
//
//	+--------------------------------------+ 0
//	| RecordBatch v2                       |   each batch carries its own CRC32C over bytes [21, end)
//	| RecordBatch v2                       |
//	| ...                                  |
//	+--------------------------------------+ index position (= data size)
//	| index header (40 bytes)              |
//	|   base offset            int64       |   first offset the segment covers
//	|   next offset            int64       |   last offset + 1
//	|   max timestamp          int64       |   -1 when empty
//	|   max timestamp offset   int64       |   base offset of the first batch holding it, -1 when empty
//	|   batch count            uint32      |
//	|   entry count N          uint32      |
//	| N index entries (24 bytes each)      |   one for the first batch, then one per ~4 KiB of batches
//	|   batch base offset      int64       |
//	|   batch position         int64       |
//	|   max timestamp before   int64       |   largest max timestamp of all earlier batches (-1: none)
//	+--------------------------------------+ size - 28
//	| footer (28 bytes)                    |
//	|   index position         uint64      |
//	|   index length           uint32      |
//	|   format version         uint16      |   1
//	|   flags                  uint16      |   0
//	|   CRC32C                 uint32      |   Castagnoli, over the index then footer bytes [0, 16)
//	|   magic                  [8]byte     |   "STRATSEG"
//	+--------------------------------------+ size
//
// A batch is found by offset through the last index entry at or below it, then by walking batch
// headers (at most one index interval). The first batch whose max timestamp is ≥ t is found through
// the last entry whose "max timestamp before" is < t, then by walking headers the same way; the
// first record whose timestamp is ≥ t (what Kafka's ListOffsets answers, Reader.FindRecord) is then
// found by reading that batch and walking its records (RecordForTimestamp), and the next such batch
// if none of its records is new enough.
//
// A hot log's active file has no index or footer yet; Recover scans one from byte 0 and stops at the
// first torn or invalid batch. Writer writes a segment to any io.Writer; Reader reads one through an
// io.ReaderAt (a file, or a ranged reader over an object).
//
// ValidateBatch checks a batch's header and CRC; CheckRecords also walks its records (decompressing
// them as a stream, within InflateLimit) against the record format drawn in records.go, for batches
// a broker is about to accept from a producer. RecordForTimestamp walks records with the same walker.
//
// AppendBatch encodes records as one RecordBatch v2 (with franz-go's kmsg) for the writers that make
// batches themselves rather than receive them: the HTTP NDJSON ingest, and tests through segmenttest.
//
// Local frames (frame.go: AppendFrame, ReadFrame) are the format of the small state files kept
// beside segments — len | crc32c | version | payload — for the hot log and the broker alike.
//
// Every decoder here takes bytes from outside (disk, object storage, the network): bad bytes give
// an error wrapping ErrCorrupt, never a panic, and nothing is allocated beyond what the input's
// stated size justifies. Readers are safe for concurrent use when their io.ReaderAt is; Writers and
// Indexers are not.
//
// Versions: a reader keeps accepting every earlier format version. Version 1 is the first.
package segment

import "errors"

// ErrCorrupt marks bytes that are not a valid segment or batch. Everything read from disk or object
// storage that fails a check wraps it: errors.Is(err, segment.ErrCorrupt).
var ErrCorrupt = errors.New("segment: corrupt data")

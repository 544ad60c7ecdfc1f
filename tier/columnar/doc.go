// Package columnar owns the Parquet layout of Strata's cold tier: a partition's sealed records as a
// table that analytical tools (DuckDB, pyarrow, Spark) read directly, and from which Kafka record
// batches are rebuilt for Fetch. It writes batches to Parquet (Writer) and reads Parquet back into
// batches (Object); the batch bytes themselves are decoded and encoded by tier/segment and kmsg.
//
// Layout version 1. One object holds one offset range [base, next) of one partition, one row per
// record, in offset order. Columns, in this order (leaf columns 0–17 are fixed; readers of batches
// need only those):
//
//	+-----------------------+--------------------------------------+-------------------------------+
//	| column                | type                                 | holds                         |
//	+-----------------------+--------------------------------------+-------------------------------+
//	| partition             | int32                                | the Kafka partition           |
//	| offset                | int64                                | the record's offset           |
//	| timestamp             | timestamp(ms, UTC)                   | as a consumer sees it (*)     |
//	| key                   | binary, null: null key               |                               |
//	| value                 | binary, null: tombstone              |                               |
//	| headers               | list<struct<key: string,             | in record order               |
//	|                       |   value: binary (null: null value)>> |                               |
//	| batch_base_offset     | int64                                | the record's batch: its base  |
//	| batch_last_offset_delta | int32                              |   offset and last delta       |
//	| batch_attributes      | int16                                |   codec, txn, control bits    |
//	| batch_leader_epoch    | int32                                |   partition leader epoch      |
//	| batch_first_timestamp | int64                                |   first and max timestamps    |
//	| batch_max_timestamp   | int64                                |                               |
//	| producer_id           | int64                                |   -1: none                    |
//	| producer_epoch        | int16                                |                               |
//	| base_sequence         | int32                                |                               |
//	| record_attributes     | int8                                 | the record's attributes byte  |
//	| timestamp_delta       | int64                                | the record's stored delta     |
//	| value_<field> ...     | int64 | float64 | bool | string        | strata.value.format=json (**) |
//	+-----------------------+--------------------------------------+-------------------------------+
//
// (*) the record's first timestamp plus its delta, or the batch's max timestamp when the batch
// carries LogAppendTime. (**) one column per top-level field of the values that are JSON objects,
// typed by the values seen in the object (a field seen with two types is a string column holding
// each value's JSON text); a value that is not a JSON object only fills `value`.
//
// A batch is rebuilt from its rows: the batch columns are its header, the record columns (with
// offset − batch_base_offset as the offset delta) its records, encoded by segment.RebuildBatch. The
// records are then byte for byte the produced ones; the batch is compressed with the codec the
// reader asks for (by default strata.compression, else the produced one), so its CRC is new but
// valid. A batch left without
// records by key compaction has no row: such batches are kept whole in the key-value metadata.
//
// Row groups hold whole batches (a batch never spans two), about RowGroupBytes of record data
// each, so a read from an offset decodes one row group to find its batch. Columns are zstd
// compressed and dictionary encoded, with statistics (min/max on offset, batch_base_offset and
// timestamp find the row group) and a page index; `key` has a bloom filter.
//
// File key-value metadata:
//
//	strata.columnar.version   "1"
//	strata.partition          the partition
//	strata.base_offset        first offset of the range
//	strata.next_offset        one past its last offset
//	strata.empty_batches      base64 of the empty batches' bytes, back to back (absent: none)
//	strata.compression        the topic's compression.type when converted, the codec batches
//	                          are rebuilt in (absent: each batch's own, the producer's)
//	strata.row_groups         "end:crc,..." per row group: the byte where it ends (the first
//	                          starts at 0, with the magic) and the CRC32C (Castagnoli, decimal)
//	                          of its bytes; a reader checks a row group's CRC before decoding it
//
// The row-group CRCs are what keeps bad bytes from arrow-go's decoders, some of which run on
// goroutines of their own where a panic cannot be recovered: the footer is decoded (on the
// caller's goroutine, a panic recovered) and checked, column data only once its CRC matched.
//
// Every decoder here takes bytes from object storage: bad bytes give an error wrapping
// segment.ErrCorrupt, never a panic. An Object is safe for concurrent use when its io.ReaderAt is;
// a Writer is not.
package columnar

// Package columnar owns the Parquet layout of Strata's cold tier: a partition's sealed records as a
// table that analytical tools (DuckDB, pyarrow, Spark) read directly, and from which Kafka record
// batches are rebuilt for Fetch. It writes batches to Parquet (Writer) and reads Parquet back into
// batches (Object); the batch bytes themselves are decoded and encoded by tier/segment and kmsg.
//
// Layout version 2 (version 1 is version 2 without json_value; both are read). One object holds
// one offset range [base, next) of one partition, one row per record, in offset order. Columns, in
// this order (leaf columns 0–18 are fixed, 0–17 in version 1; readers of batches need only those,
// and the JSON columns of an object with strata.json_values):
//
//	+-----------------------+--------------------------------------+-------------------------------+
//	| column                | type                                 | holds                         |
//	+-----------------------+--------------------------------------+-------------------------------+
//	| partition             | int32                                | the Kafka partition           |
//	| offset                | int64                                | the record's offset           |
//	| timestamp             | timestamp(ms, UTC)                   | as a consumer sees it (*)     |
//	| key                   | binary, null: null key               |                               |
//	| value                 | binary, null: tombstone or rebuilt   | (***)                         |
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
//	| json_value            | bool                                 | value rebuilt from value_*    |
//	| value_<field> ...     | int64 | float64 | bool | string        | strata.value.format=json (**) |
//	+-----------------------+--------------------------------------+-------------------------------+
//
// (*) the record's first timestamp plus its delta, or the batch's max timestamp when the batch
// carries LogAppendTime. (**) one column per top-level field of the values that are JSON objects,
// typed by the values seen in the object (a field seen with two types is a string column holding
// each value's JSON text); a value that is not a JSON object only fills `value`. (***) with
// strata.value.format=json-columns, a value that its JSON columns rebuild byte for byte is not
// stored: `value` is null and json_value true. The rebuilt text is the row's non-null JSON columns
// in column order, as {"name":value,...} without whitespace: integers and floats as Go's strconv
// formats them (floats 'g', shortest), booleans as true/false, strings escaped only where JSON
// requires it ('"', '\\', control characters as \b \f \n \r \t or \u00xx). The writer builds this
// text for every JSON-object value and compares it with the value; anything else (whitespace,
// other escapes, a null field, a repeated name, fields out of column order, a field in a column of
// JSON text, 1.50 or 1e3) keeps the value whole.
//
// Why json-columns exists: with json, an object holds each value twice, in `value` and (most of
// it) in its columns, and Parquet compresses columns apart, so nothing shares the two copies. For
// 1 KiB JSON log records sent zstd-compressed by their producers that is about 1.9× the segment
// bytes (the value column alone compresses to about the producer's own size, the message column to
// 0.8 of it); zstd's levels do not close a factor of two on text near its entropy. json-columns
// stores the value once (0.95×) and keeps Fetch byte for byte, at a price for tools that read the
// objects directly: `value` is null on rebuilt rows (their data is in the value_ columns). So
// json keeps `value` whole for every row and stays the format for readers of `value`, and
// json-columns is the choice where the columns are what is read.
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
// compressed and dictionary encoded (but key, value and string JSON columns whose values are
// mostly distinct in a sample of rows, which a dictionary only makes slower and larger), with
// statistics (min/max on offset, batch_base_offset and timestamp find the row group) and a page
// index; `key` has a bloom filter.
//
// File key-value metadata:
//
//	strata.columnar.version   "2" ("1": no json_value column)
//	strata.partition          the partition
//	strata.base_offset        first offset of the range
//	strata.next_offset        one past its last offset
//	strata.empty_batches      base64 of the empty batches' bytes, back to back (absent: none)
//	strata.compression        the topic's compression.type when converted, the codec batches
//	                          are rebuilt in (absent: each batch's own, the producer's)
//	strata.row_groups         "end:crc,..." per row group: the byte where it ends (the first
//	                          starts at 0, with the magic) and the CRC32C (Castagnoli, decimal)
//	                          of its bytes; a reader checks a row group's CRC before decoding it
//	strata.json_values        how many rows have json_value true (absent: none); when there
//	                          are some, a reader of batches reads the JSON columns too
//
// The row-group CRCs are what keeps bad bytes from arrow-go's decoders, some of which run on
// goroutines of their own where a panic cannot be recovered: the footer is decoded (on the
// caller's goroutine, a panic recovered) and checked, column data only once its CRC matched.
//
// Every decoder here takes bytes from object storage: bad bytes give an error wrapping
// segment.ErrCorrupt, never a panic. An Object is safe for concurrent use when its io.ReaderAt is;
// a Writer is not.
package columnar

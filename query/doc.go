// Package query runs SQL and log searches over topics, across every tier: each topic is a table
// whose rows come from its segment objects (through tier's Reader) and from its leaders' hot
// tails (through a Tail the caller supplies), each offset from exactly one of them.
//
// # Engine
//
// The SQL engine is an embedded DuckDB (github.com/duckdb/duckdb-go/v2, cgo). Strata does not
// parse SQL: every query gets a fresh in-memory DuckDB database whose unknown table names are
// replaced (a replacement scan) by a table function reading that topic. Before it runs, DuckDB's
// own parser (json_serialize_sql) gives the planner the statement's syntax tree, from which Plan
// takes bounds on partition, "offset" and timestamp per table; scans skip what the bounds rule
// out, and DuckDB applies the whole WHERE clause to what is read, so bounds that are too wide
// cost bytes, never answers. The database has file, network and extension access off and its
// settings (memory limit, threads) locked before the statement runs.
//
// # A scan, per partition
//
//	catalog (fresh read)                     leader (Tail)
//	| seg | seg | seg | seg |                 |---- hot tail ----|
//	0                       tiered end        tiered end          high watermark (as first read)
//	  ^ Pick: segments whose offsets and        ^ starts at max(tiered end, first offset at or
//	    min/max timestamps meet the bounds        after the window's start: ListOffsets)
//
// Of a Parquet object (strata.cold.format=parquet) only the row groups whose timestamp statistics
// reach the time bounds, and, for WHERE key = 'constant', whose key bloom filter may hold the key,
// are read (tier.Reader.ParquetRowGroups and ParquetKeyGroups: the footer, read once and kept);
// the others are counted in Stats.RowGroupsPruned. A Parquet object is read as columns, no Kafka
// batch rebuilt: of each row group chosen, only the column chunks of the columns the statement
// uses (DuckDB's projection; besides batch_attributes, as control records are no rows, and offset
// when the offsets read stop inside the group) are fetched, with ranged GETs of their own
// (tier.Reader.ParquetColumns, several groups ahead) and decoded (columnar.Object.ReadColumns).
// So a count over a time window reads the timestamp chunks of a few row groups: a few percent of
// the object. Segment objects carry no column or key index: a query reads their batches whole
// (pruned by the catalog only), and copies out of them only the columns it uses.
//
// The hot tail is read from the leader in reads of about 1 MiB. Each read not yet known becomes
// a span of the hot index (hotindex.go): its records' timestamp range and key hashes, kept with
// the leader epoch. A later scan skips the spans that cannot meet its bounds
// (Stats.HotSpansPruned) and reads the rest.
//
// Segment objects are read through a tier.PartitionLog without a hot log (so is a Parquet
// object gone meanwhile, merged by compaction: the log's catalog names what replaced it); the
// tail from the tiered end the same catalog read named, so the two never overlap (records below
// it are dropped from the tail's first batch) and never leave a gap (the leader's log holds
// everything from its log start, tiered or not). Control batches are skipped; aborted transactional records are returned.
//
// # Rows in, rows out
//
// DuckDB pulls a table function chunk by chunk on its own threads (cgo-locked): each scan runs on
// goroutines of its own, reading up to four partitions at once (each in offset order; the
// partitions' rows interleave), started by the first pull and stopped when the query's Result
// closes, and hands over blocks of rows column by column, only the columns the statement uses (a chunk
// has vectors for those only), keys and values copied into one buffer per block. A chunk is
// filled column by column from the blocks. Results stream through Result; Encoder writes them as
// NDJSON, CSV or an Arrow IPC stream (arrow-go). The Arrow stream is built from the driver's
// values: duckdb-go takes and gives Arrow only under its duckdb_arrow build tag, which every
// build, vet, lint and test of the module would then have to pass.
//
// Stats counts rows as handed to the engine and bytes as read: whole batches of segment objects
// and hot tails, the column chunks fetched of Parquet objects (footers, read once per object and
// kept, are not counted).
//
// # Concurrency and limits
//
// An Engine is safe for concurrent use; at most Config.MaxConcurrent queries run at once (more
// get ErrBusy). It keeps one database opened and configured ahead, which the next query takes
// (opening one costs about as much as a small query); Close drops it. Each has Config.Timeout, Config.MemoryLimit (DuckDB's memory_limit) and
// Config.MaxRows returned; passing one ends it with ErrLimit. A Result is used by one goroutine.
//
// # HTTP
//
// Engine.Register mounts POST /v1/sql (the body is the statement) and GET /v1/search (ParseSearch;
// compiled to SQL, newest first, with an optional time histogram). Errors map to statuses by
// Status; rows and bytes read per tier are the Strata-Query-Stats trailer and Prometheus metrics.
//
// # Typed JSON columns
//
// Topics are read as (partition, offset, timestamp, key, value, headers); JSON fields are
// reached with DuckDB's JSON functions over value. Typed columns for strata.value.format=json
// topics belong with the Parquet tier, whose objects carry them: columns() is where they join
// the table, and the scanner where Parquet objects join the tiers.
package query

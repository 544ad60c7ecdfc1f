// Package query will own search across every tier: a planner that prunes segments by time and offset
// statistics, executors over the hot log, segment objects and Parquet files, filters by time, key,
// text and JSON fields, and NDJSON / Arrow IPC output behind GET /v1/query.
//
// Not built yet: milestone 2.
package query

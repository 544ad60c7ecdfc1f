// Package compaction will own Strata's stateless compaction worker: merging small segment objects,
// applying retention and key compaction (cleanup.policy=compact) to tiered data, and writing Parquet
// copies with Apache Arrow for Go. Plans are pure functions of the catalog; a driver does the I/O and
// swaps segments atomically with metadata.Store.ReplaceSegments.
//
// Not built yet: milestone 2.
package compaction

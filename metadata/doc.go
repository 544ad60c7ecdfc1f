// Package metadata is Strata's contract with its coordination service: the catalog types (Topic,
// Lease, PartitionCatalog, SegmentRef, OffsetCommit, Node), the sentinel errors callers branch on,
// the catalog rules every backend applies, and the role interfaces a backend implements.
//
// Imports flow one way: metadata ← tier ← ingest, compaction, query ← cmd. This package imports no
// other Strata package. Backends live below it: natsmeta (NATS JetStream, production) and memmeta
// (in memory, tests); metatest is the conformance suite both pass.
//
// # Roles
//
// A backend is one value that plays every role; Store is their union plus Close, so cmd opens one
// Store and hands it around. Consumers ask for the roles they use (or declare a smaller interface
// of their own), so a reader of their Config sees what they touch:
//
//	role              methods                                 used by
//	Topics            Create/Get/List/Update/DeleteTopic      broker (admin), compaction, groups (reads)
//	Leases            Acquire/Release/GetLease, ListLeases    broker (leadership), compaction (reads)
//	Catalog           GetCatalog, RegisterSegment,            tier (uploader, reader, retention),
//	                  ListSegments, ReplaceSegments,          broker, compaction
//	                  SetLogStartOffset
//	CatalogWatcher    WatchCatalogs                           tier (the reader's catalog cache)
//	Offsets           Commit/Fetch/DeleteOffsets, ListGroups  group coordinator
//	OffsetsWatcher    WatchOffsets                            the __consumer_offsets changelog
//	ProducerIDs       AllocateProducerIDs                     broker (idempotent producers)
//	Nodes             Register/DeregisterNode, ListNodes      broker (registry), compaction (reads)
//	LeadershipWatcher WatchLeadership                         broker (failover, rebalancing)
//	ACLs              Create/Delete/ListACLs, WatchACLs       authorizer (ingest/acl)
//
// # Leadership by node
//
// Liveness is per node, ownership per partition. A node registers with a TTL and refreshes that one
// registration; a partition's lease record (holder, epoch) has no TTL and is live while its holder's
// registration is. So idle partitions cost no metadata writes, and a node's death frees all its
// partitions at once. A node that finds its own registration lapsed must stop serving every
// partition at once and take each again (a new term, a new epoch): another node may have taken it
// meanwhile, and taking is a compare-and-swap on the lease record, so exactly one of them wins.
//
// # Fencing
//
// Every partition has a leader epoch that grows by one each time a new term begins. Writes
// that only a leader may make (RegisterSegment, ReplaceSegments, SetLogStartOffset) carry the writer's
// epoch; a store rejects a write whose epoch is older than the partition's current epoch with
// ErrFenced. A fenced writer must stop acting as leader. The catalog rules (rules.go: fencing, no gap,
// no overlap, idempotent retries, a log start that only moves forward) are methods on
// PartitionCatalog, pure functions that a backend runs inside its own compare-and-swap.
//
// # Concurrency and ownership
//
// Every role is safe for concurrent use by many goroutines and many processes. Every
// read-modify-write is a compare-and-swap on the backend's revision; a CAS retried after a timeout
// re-reads before it is reported as ErrConflict. Every method honours ctx and has its own bounded
// timeout as well. Slices, maps and structs a method returns belong to the caller, who may keep and
// change them; values passed in are not kept by the store. Watch channels are owned by the store:
// they are closed when the watch's ctx ends or the store closes.
//
// # Errors
//
// Backends wrap ErrNotFound, ErrExists, ErrConflict and ErrFenced with %w; callers test them with
// errors.Is. Other errors (a closed store, a timeout, a backend failure) are returned as they are.
package metadata

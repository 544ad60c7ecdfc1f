// Package group is Strata's consumer group coordinator: the classic Kafka group membership
// protocol (JoinGroup, SyncGroup, Heartbeat, LeaveGroup), committed offsets kept in the
// metadata store (the metadata.Offsets role), and the admin views (DescribeGroups, ListGroups, DeleteGroups, OffsetDelete).
//
// # Contract
//
// Every request method takes and returns franz-go kmsg types and answers with the response shape of
// the request's version; protocol failures are kerr codes inside the response, never Go errors.
// A Coordinator is safe for concurrent use. JoinGroup and SyncGroup block until the rebalance they
// take part in completes (or ctx ends, or the Coordinator closes); every other method returns as
// soon as its store I/O is done.
//
// # States
//
// Each group is a state machine without I/O (machine.go), driven under one mutex per group. Time is an
// input: the driver passes "now" to every transition and wakes the group at the machine's next
// deadline (session expiry, rebalance timeout, initial rebalance delay, sync timeout).
//
//	          first join                 all members joined, or
//	Empty ──────────────────▶ Preparing ─── rebalance timeout ───▶ Completing ── leader ──▶ Stable
//	  ▲                       Rebalance ◀───────────────────────── Rebalance    SyncGroup      │
//	  │                         │   ▲      member join/leave/expiry                            │
//	  └── no member rejoined ───┘   └──────────── member join (changed)/leave/expiry ──────────┘
//
// Dead is the state of a group removed by DeleteGroups or unloaded because this node stopped
// being its coordinator; a Dead group object is never reused.
//
// # Offsets
//
// Committed offsets live only in the metadata store, so they survive restarts and coordinator moves.
// Group membership lives only in memory: after a coordinator move members rejoin (their heartbeats
// answer UNKNOWN_MEMBER_ID or NOT_COORDINATOR), exactly as clients do after a Kafka coordinator
// failover whose group metadata was lost.
//
// # Deviations from Apache Kafka
//
//   - Only the classic protocol: the KIP-848 fields of OffsetCommit/OffsetFetch v9 (member epoch)
//     are treated as the classic generation/member id.
//   - Group metadata (protocol type, generation) is not persisted; a group known only from stored
//     offsets is reported Empty with protocol type "".
//   - A static member (group.instance.id) that rejoins with an unknown member id replaces the old
//     member without a rebalance only while the group is Stable and the selected protocol would not
//     change; in every other state the replacement triggers a rebalance.
package group

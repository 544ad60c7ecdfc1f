// Package group is Strata's consumer group coordinator: the classic Kafka group membership
// protocol (JoinGroup, SyncGroup, Heartbeat, LeaveGroup), KIP-848 consumer groups
// (ConsumerGroupHeartbeat, ConsumerGroupDescribe), committed offsets kept in the metadata store
// (the metadata.Offsets role), and the admin views (DescribeGroups, ListGroups, DeleteGroups,
// OffsetDelete).
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
// # KIP-848 consumer groups
//
// A group id holds either a classic group or a consumer group (consumer.go, also without I/O,
// driven under the same per-group mutex) while it has members. A consumer group has a group
// epoch, bumped once per heartbeat that changed membership, a subscription, the assignor or the
// subscribed topics' metadata; a target assignment computed at the group epoch by the assignor
// (assign.go: uniform or range); and per member a member epoch, the partitions it may consume
// (each with the epoch it got it at) and the partitions it must revoke. Reconciliation, per
// heartbeat of a member:
//
//	revoking? ── member still reports them ──▶ wait (epoch unchanged)
//	    │ released
//	    ▼
//	assigned ⊄ target ──▶ revoke the rest, epoch unchanged, rebalance timeout starts
//	    │ no
//	    ▼
//	epoch := target epoch; take each target partition no other member holds or is revoking
//
// so a partition never has two owners. Topic metadata comes from the store's topic list, read at
// most once a second for all groups.
//
// # Offsets
//
// Committed offsets live only in the metadata store, so they survive restarts and coordinator moves.
// Group membership lives only in memory, for both protocols: after a coordinator move members
// rejoin (their heartbeats answer UNKNOWN_MEMBER_ID or NOT_COORDINATOR; a KIP-848 member rejoins
// with epoch 0), exactly as clients do after a Kafka coordinator failover whose group metadata
// was lost.
//
// # Deviations from Apache Kafka
//
//   - No online migration between the protocols: a classic join to a consumer group with members
//     answers INCONSISTENT_GROUP_PROTOCOL, a consumer heartbeat to a classic group with members
//     GROUP_ID_NOT_FOUND. An empty group of either kind turns into the other.
//   - Group metadata (protocol type, generation, group epoch, consumer group membership) is not
//     persisted; a group known only from stored offsets is reported as an Empty classic group with
//     protocol type "".
//   - The KIP-848 assignors do not use racks.
//   - A static member (group.instance.id) that rejoins with an unknown member id replaces the old
//     member without a rebalance only while the group is Stable and the selected protocol would not
//     change; in every other state the replacement triggers a rebalance.
package group

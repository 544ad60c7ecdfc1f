// Package natsmeta is the production metadata.Store: every role of package metadata on NATS
// JetStream key-value buckets, plus an in-process nats-server (StartEmbedded, StartCluster) for
// single-node deployments and tests. It applies package metadata's catalog rules and passes
// metatest's conformance suite on one server and on a three-node cluster.
//
// # Buckets and keys
//
// Six buckets, each with history 1, file storage, per-message TTLs enabled (LimitMarkerTTL) and,
// when created by Open, 3 replicas on a cluster of three or more servers, else 1:
//
//	bucket     key                          value                       TTL
//	topics     b64(topic)                   JSON topic, "v":1           -
//	leases     b64(topic).<partition>       JSON lease, "v":1           -
//	segments   b64(topic).<partition>       binary catalog, version 1   -
//	offsets    b64(group)                   binary offsets, version 1   -
//	producers  next                         JSON {"v":1,"next":N}       -
//	nodes      <node id>                    JSON node, "v":1            the node TTL
//	acls       hex(sha256(value))[:32]      JSON ACL, "v":1 (acls.go)   -
//
// b64 is unpadded base64url, so any topic or group name is one valid subject token ('.' in a
// Kafka topic name would otherwise split the key). The binary formats are drawn in codec.go.
//
// # Consistency
//
// Every change is a compare-and-swap on the key's revision (the stream sequence of its newest
// message), retried on fresh state when another writer wins. Reads go to the stream leader
// (JetStream's STREAM.MSG.GET), not to direct gets, which a lagging replica may answer.
//
// A partition's whole catalog is one key, so RegisterSegment, ReplaceSegments and SetLogStartOffset
// are single atomic swaps that check the writer's epoch against the value they replace. The catalog
// also keeps the partition's leader epoch, durably: lease records go, epochs must not.
//
// A lease record is live while its holder's registration key exists in the nodes bucket. The
// server deletes a registration when its TTL lapses (TTLs are rounded up to whole seconds,
// JetStream's resolution), so no two nodes' clocks are compared; RefreshNode is a swap on the
// registration's revision, so it never revives a registration that lapsed. AcquireLease swaps the
// record to the next epoch and, when it takes the lease from another node, raises the catalog's
// epoch too (see leases.go). The registry has a NATS connection of its own, so a refresh never
// queues behind other writes on the server.
//
// # Timeouts and retries
//
// Each JetStream call runs under Config.OpTimeout; a call that times out, finds no responders or
// meets a cluster in leader election is retried with backoff until Config.RetryTimeout (or the
// caller's ctx) ends. Writes carry a message id, so a resend of a write that did land is recognised
// (see Store.put) instead of being applied twice or misreported as a conflict.
//
// Concurrent swaps of catalog and offsets keys (a node's flush registers every partition's range at
// once) go out as JetStream atomic batches once more than a few are in flight: one fsync, or one
// Raft entry, for the lot, each message still checked against its own revision (see batch.go).
//
// A Store remembers the newest value and revision it wrote per lease, catalog and group key, so the
// usual single writer of a key (a partition leader, a group coordinator) writes in one round trip;
// a lost swap falls back to reading the key.
//
// # Concurrency and lifetime
//
// A Store is safe for concurrent use. Watches started by WatchCatalogs and WatchLeadership are
// owned by the Store and end with their ctx or with Close; Close is idempotent and waits for them.
// WatchLeadership follows the nodes, leases and topics buckets (see watch.go).
//
// # Access
//
// Whoever can write these buckets controls the cluster (a forged node record redirects clients),
// so Open takes credentials for an external NATS — a token, a user and password (also accepted in
// the URLs), a credentials file or an nkey seed file — and TLS settings, and names URLs in errors
// only through RedactURLs. An embedded server that listens should require a Token
// (LoadOrCreateToken keeps one in a 0600 file); routes between clustered servers then
// authenticate with it too, and the node's own in-process Store presents it.
//
// Limits: a value may not exceed the server's payload limit (1 MiB by default), about 30,000
// segments in one partition catalog (ErrTooLarge). JetStream domains and API prefixes are not
// supported.
package natsmeta

package tier

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/tier/objstore"
)

// Errors callers branch on. Errors from the metadata store and the bucket are wrapped as they come
// (errors.Is(err, metadata.ErrFenced), errors.Is(err, segment.ErrCorrupt) keep working).
var (
	// ErrConfig marks an invalid Config, ReaderConfig or Policy.
	ErrConfig = errors.New("tier: invalid config")
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("tier: closed")
	// ErrNotTracked: the partition is not tracked by this Uploader (never, or no longer: untracked
	// or fenced).
	ErrNotTracked = errors.New("tier: partition not tracked")
	// ErrOffsetOutOfRange: the offset is not held in object storage (below the log start, or at or
	// above the tiered end).
	ErrOffsetOutOfRange = errors.New("tier: offset out of range")
	// ErrBadKey: a string is not an object key of the tiered layout.
	ErrBadKey = errors.New("tier: not a segment object key")
)

// Defaults for zero Config fields.
const (
	DefaultUploadConcurrency = 16
	DefaultRetryBaseDelay    = 200 * time.Millisecond
	DefaultRetryMaxDelay     = 15 * time.Second
	DefaultCheckInterval     = 5 * time.Minute
	DefaultPollInterval      = 30 * time.Second
	DefaultDeleteGrace       = 5 * time.Minute
	DefaultSharedObjectBytes = 8 << 20
	// SharedRegisterWindow is how long after its PUT a range of a shared object may still be
	// registered; a partition that could not register its range by then uploads its data again.
	// The orphan sweeper deletes an unreferenced shared object only once it is older than its
	// grace period, which must exceed this.
	SharedRegisterWindow = 10 * time.Minute
)

// Config configures an Uploader.
type Config struct {
	// Bucket receives the segment objects. Required. Wrap it with objstore.WithRetry for transient
	// errors; the Uploader retries failed uploads on its own, forever, with backoff.
	Bucket objstore.Bucket
	// Store holds the catalog. Required.
	Store metadata.Catalog
	// Prefix is put before every object key ("" for none); it must be a valid key prefix.
	Prefix string
	// NodeID names this node in the keys of the objects its object-durability flushes write
	// (SharedObjectKey).
	NodeID int32
	// SharedObjectBytes is how much pending object-durability data makes a flush happen before its
	// deadline (default 8 MiB), and the most one partition puts in one flush's object.
	SharedObjectBytes int64
	// UploadConcurrency bounds the uploads in flight across all partitions (default 16: object
	// durability rolls the partitions of a topic at the same instants, and each one's acks wait
	// for its upload). A partition uploads its segments one after another, in offset order.
	UploadConcurrency int
	// RetryBaseDelay and RetryMaxDelay bound the backoff between failed attempts (defaults 200 ms
	// and 15 s): the delay doubles from the base up to the max, with jitter.
	RetryBaseDelay, RetryMaxDelay time.Duration
	// PollInterval is how often a partition looks for work with nothing having woken it: appends
	// and rolls (by age or explicit) wake it at once, so this is only a safety net, kept long so
	// that thousands of idle partitions cost no CPU (default 30 s).
	PollInterval time.Duration
	// CheckInterval is how often retention (tiered and local) is applied to each partition
	// (default 5 min, as Kafka's log.retention.check.interval.ms). Local retention also runs after every registration.
	CheckInterval time.Duration
	// DeleteGrace is how long an object that left the catalog stays in the bucket so that reads in
	// flight finish (default 5 min).
	DeleteGrace time.Duration
	// OnFenced is called, on the partition's own goroutine and after it stopped tracking, when the
	// catalog rejects a write under the partition's epoch. The broker steps down there. It may call
	// Untrack and Track.
	OnFenced func(tp metadata.TopicPartition)
	// Now is the clock for retention (default time.Now).
	Now        func() time.Time
	Logger     *slog.Logger
	Registerer prometheus.Registerer
}

func (c *Config) applyDefaults() {
	if c.UploadConcurrency == 0 {
		c.UploadConcurrency = DefaultUploadConcurrency
	}
	if c.SharedObjectBytes == 0 {
		c.SharedObjectBytes = DefaultSharedObjectBytes
	}
	if c.RetryBaseDelay == 0 {
		c.RetryBaseDelay = DefaultRetryBaseDelay
	}
	if c.RetryMaxDelay == 0 {
		c.RetryMaxDelay = DefaultRetryMaxDelay
	}
	if c.PollInterval == 0 {
		c.PollInterval = DefaultPollInterval
	}
	if c.CheckInterval == 0 {
		c.CheckInterval = DefaultCheckInterval
	}
	if c.DeleteGrace == 0 {
		c.DeleteGrace = DefaultDeleteGrace
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.OnFenced == nil {
		c.OnFenced = func(metadata.TopicPartition) {}
	}
}

// Validate reports missing dependencies and unusable values. Zero values are fine (defaults).
func (c Config) Validate() error {
	switch {
	case c.Bucket == nil:
		return fmt.Errorf("%w: Bucket is required", ErrConfig)
	case c.Store == nil:
		return fmt.Errorf("%w: Store is required", ErrConfig)
	case c.UploadConcurrency < 0:
		return fmt.Errorf("%w: negative UploadConcurrency %d", ErrConfig, c.UploadConcurrency)
	case c.SharedObjectBytes < 0:
		return fmt.Errorf("%w: negative SharedObjectBytes %d", ErrConfig, c.SharedObjectBytes)
	case c.NodeID < 0:
		return fmt.Errorf("%w: negative NodeID %d", ErrConfig, c.NodeID)
	case c.RetryBaseDelay < 0 || c.RetryMaxDelay < 0 || c.CheckInterval < 0 || c.PollInterval < 0 || c.DeleteGrace < 0:
		return fmt.Errorf("%w: negative duration", ErrConfig)
	case c.RetryMaxDelay > 0 && c.RetryBaseDelay > c.RetryMaxDelay:
		return fmt.Errorf("%w: RetryBaseDelay %v above RetryMaxDelay %v", ErrConfig, c.RetryBaseDelay, c.RetryMaxDelay)
	}
	if c.Prefix != "" {
		if err := objstore.ValidateKey(strings.TrimSuffix(c.Prefix, "/")); err != nil {
			return fmt.Errorf("%w: Prefix: %w", ErrConfig, err)
		}
	}
	return nil
}

// ObjectKey is the key of a segment object as the Uploader writes it:
//
//	<prefix>/topics/<topic-id>/<partition>/<base-offset, 20 digits>-<epoch>.seg
//
// The topic ID (32 hex digits) keeps a re-created topic's objects apart from the old ones; the
// epoch keeps two leaders that cut a segment at the same base offset from writing the same key.
func ObjectKey(prefix string, topicID metadata.TopicID, partition int32, base int64, epoch int32) string {
	return objectKey(prefix, topicID, partition, fmt.Sprintf("%020d-%d.seg", base, epoch))
}

// MergedObjectKey is the key of an object that replaces several segments (compaction):
//
//	<prefix>/topics/<topic-id>/<partition>/<base-offset, 20 digits>-<next-offset, 20 digits>-<epoch>.seg
//
// The file name has two dashes where an uploaded segment's has one, so the two never collide. The
// epoch is the writer's (the partition leader's when the merge was made), which keeps two writers
// that merge the same offset range under different leaderships apart.
func MergedObjectKey(prefix string, topicID metadata.TopicID, partition int32, base, next int64, epoch int32) string {
	return objectKey(prefix, topicID, partition, fmt.Sprintf("%020d-%020d-%d.seg", base, next, epoch))
}

// RewrittenObjectKey is the key of an object written by key compaction over [base, next): a
// merged key with the rewrite's generation (≥ 1) after the epoch,
//
//	<prefix>/topics/<topic-id>/<partition>/<base-offset, 20 digits>-<next-offset, 20 digits>-<epoch>.c<generation>.seg
//
// Key compaction may rewrite the same range again under the same leadership (a lone segment whose
// tombstones expire); one more than its inputs' highest generation keeps each rewrite's key new,
// so an object replaced earlier, perhaps still waiting for its delayed delete, is never written
// again under the same key.
func RewrittenObjectKey(prefix string, topicID metadata.TopicID, partition int32, base, next int64, epoch int32, generation int64) string {
	return objectKey(prefix, topicID, partition, fmt.Sprintf("%020d-%020d-%d.c%d.seg", base, next, epoch, generation))
}

func objectKey(prefix string, topicID metadata.TopicID, partition int32, name string) string {
	var b strings.Builder
	if prefix = strings.TrimSuffix(prefix, "/"); prefix != "" {
		b.WriteString(prefix)
		b.WriteByte('/')
	}
	fmt.Fprintf(&b, "topics/%s/%d/%s", topicID, partition, name)
	return b.String()
}

// ParsedKey is what an object key says about its segment.
type ParsedKey struct {
	Prefix     string
	TopicID    metadata.TopicID
	Partition  int32
	BaseOffset int64
	// NextOffset is one past the last offset of a merged object (MergedObjectKey), and -1 for an
	// uploaded segment's key (ObjectKey), which does not say.
	NextOffset int64
	Epoch      int32
	// Shared marks a SharedObjectKey: an object holding byte ranges of several partitions, written
	// by node Node at Written (Unix nanoseconds) with the random Nonce. TopicID, Partition,
	// BaseOffset and Epoch are zero for it, NextOffset -1.
	Shared  bool
	Node    int32
	Written int64
	Nonce   string
	// Generation is a RewrittenObjectKey's generation, 0 for the other keys.
	Generation int64
}

// Merged reports whether the key is a MergedObjectKey.
func (k ParsedKey) Merged() bool { return k.NextOffset >= 0 }

// String rebuilds the key.
func (k ParsedKey) String() string {
	if k.Shared {
		return sharedKey(k.Prefix, k.Node, k.Written, k.Nonce)
	}
	if k.Generation > 0 {
		return RewrittenObjectKey(k.Prefix, k.TopicID, k.Partition, k.BaseOffset, k.NextOffset, k.Epoch, k.Generation)
	}
	if k.Merged() {
		return MergedObjectKey(k.Prefix, k.TopicID, k.Partition, k.BaseOffset, k.NextOffset, k.Epoch)
	}
	return ObjectKey(k.Prefix, k.TopicID, k.Partition, k.BaseOffset, k.Epoch)
}

// ParquetObjectKey is the key of a Parquet object (tier/columnar) that compaction's conversion of a
// strata.cold.format=parquet topic writes for the range [base, next):
//
//	<prefix>/topics/<topic-id>/<partition>/<base-offset, 20 digits>-<next-offset, 20 digits>.parquet
//
// It names no epoch: a range is converted once, and a conversion retried by any leader writes the
// same bytes under the same key, so a glob over *.parquet never sees a record twice.
func ParquetObjectKey(prefix string, topicID metadata.TopicID, partition int32, base, next int64) string {
	return objectKey(prefix, topicID, partition, fmt.Sprintf("%020d-%020d.parquet", base, next))
}

// ParseObjectKey is the inverse of ObjectKey, MergedObjectKey, RewrittenObjectKey and
// SharedObjectKey. ErrBadKey for anything else.
func ParseObjectKey(key string) (ParsedKey, error) {
	k := ParsedKey{NextOffset: -1}
	if err := objstore.ValidateKey(key); err != nil {
		return k, fmt.Errorf("%w: %w", ErrBadKey, err)
	}
	parts := strings.Split(key, "/")
	if len(parts) >= 3 && parts[len(parts)-3] == "shared" {
		return parseSharedKey(key, parts)
	}
	if len(parts) < 4 || parts[len(parts)-4] != "topics" {
		return k, fmt.Errorf("%w: %q", ErrBadKey, key)
	}
	n := len(parts)
	k.Prefix = strings.Join(parts[:n-4], "/")
	id, err := metadata.ParseTopicID(parts[n-3])
	if err != nil {
		return k, fmt.Errorf("%w: %q: %v", ErrBadKey, key, err)
	}
	k.TopicID = id
	p, err := strconv.ParseInt(parts[n-2], 10, 32)
	if err != nil || p < 0 {
		return k, fmt.Errorf("%w: %q: partition", ErrBadKey, key)
	}
	k.Partition = int32(p)
	name, ok := strings.CutSuffix(parts[n-1], ".seg")
	name, gen, rewritten := strings.Cut(name, ".c")
	if rewritten {
		g, err := strconv.ParseUint(gen, 10, 63)
		if err != nil || g < 1 || strconv.FormatUint(g, 10) != gen {
			return k, fmt.Errorf("%w: %q: generation", ErrBadKey, key)
		}
		k.Generation = int64(g)
	}
	fields := strings.Split(name, "-")
	if !ok || len(fields) < 2 || len(fields) > 3 || len(fields[0]) != 20 || (rewritten && len(fields) != 3) {
		return k, fmt.Errorf("%w: %q: file name", ErrBadKey, key)
	}
	if k.BaseOffset, err = strconv.ParseInt(fields[0], 10, 64); err != nil || k.BaseOffset < 0 {
		return k, fmt.Errorf("%w: %q: base offset", ErrBadKey, key)
	}
	if len(fields) == 3 {
		next, err := strconv.ParseInt(fields[1], 10, 64)
		if err != nil || len(fields[1]) != 20 || next <= k.BaseOffset {
			return k, fmt.Errorf("%w: %q: next offset", ErrBadKey, key)
		}
		k.NextOffset = next
	}
	e, err := strconv.ParseInt(fields[len(fields)-1], 10, 32)
	if err != nil || e < 0 {
		return k, fmt.Errorf("%w: %q: epoch", ErrBadKey, key)
	}
	k.Epoch = int32(e)
	return k, nil
}

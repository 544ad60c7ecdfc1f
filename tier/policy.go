package tier

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Durability is a topic's strata.durability: what an acks=all produce waits for.
type Durability int

const (
	// DurabilityLocal acknowledges after the hot log's fsync; segments are tiered as they seal.
	DurabilityLocal Durability = iota
	// DurabilityObject acknowledges only once the batch is in object storage and registered in the
	// catalog; the active segment is rolled every FlushInterval while it holds data.
	DurabilityObject
)

func (d Durability) String() string {
	if d == DurabilityObject {
		return "object"
	}
	return "local"
}

// Topic config names the tiering engine reads (Apache Kafka's, KIP-405's, and Strata's own).
const (
	ConfigRemoteStorageEnable = "remote.storage.enable"
	ConfigRetentionMs         = "retention.ms"
	ConfigRetentionBytes      = "retention.bytes"
	ConfigLocalRetentionMs    = "local.retention.ms"
	ConfigLocalRetentionBytes = "local.retention.bytes"
	ConfigDurability          = "strata.durability"
	ConfigFlushMs             = "strata.flush.ms"
	ConfigCleanupPolicy       = "cleanup.policy"
)

// DefaultFlushInterval is strata.flush.ms when unset.
const DefaultFlushInterval = 100 * time.Millisecond

// Policy is one partition's tiering and retention settings, usually built from its topic's configs
// by PolicyFromConfigs. Limits use Kafka's conventions: -1 means no limit, and the local limits take
// -2 to mean "the same as the total limit".
type Policy struct {
	// RemoteStorage is remote.storage.enable. When false nothing is uploaded and the local limits
	// are plain retention (the hot log is the only copy).
	RemoteStorage bool
	Durability    Durability
	// FlushInterval is strata.flush.ms: how often an object-durability partition rolls and uploads
	// its active segment while it holds data. Default DefaultFlushInterval.
	FlushInterval time.Duration
	// RetentionMs and RetentionBytes bound the whole log (tiered + local). -1: unbounded.
	RetentionMs    int64
	RetentionBytes int64
	// LocalRetentionMs and LocalRetentionBytes bound the hot copies of data already tiered.
	// -2: use RetentionMs / RetentionBytes. -1: unbounded.
	LocalRetentionMs    int64
	LocalRetentionBytes int64
}

// DefaultPolicy is Apache Kafka's defaults with remote storage on: 7 days retention, no size limit,
// local limits equal to the total ones, local durability.
func DefaultPolicy() Policy {
	return Policy{
		RemoteStorage:       true,
		Durability:          DurabilityLocal,
		FlushInterval:       DefaultFlushInterval,
		RetentionMs:         7 * 24 * 3600 * 1000,
		RetentionBytes:      -1,
		LocalRetentionMs:    -2,
		LocalRetentionBytes: -2,
	}
}

// Validate reports values outside Kafka's accepted ranges.
func (p Policy) Validate() error {
	switch {
	case p.Durability != DurabilityLocal && p.Durability != DurabilityObject:
		return fmt.Errorf("%w: unknown durability %d", ErrConfig, p.Durability)
	case p.FlushInterval < 0:
		return fmt.Errorf("%w: negative flush interval %v", ErrConfig, p.FlushInterval)
	case p.RetentionMs < -1 || p.RetentionBytes < -1:
		return fmt.Errorf("%w: retention limits below -1 (%d ms, %d bytes)", ErrConfig, p.RetentionMs, p.RetentionBytes)
	case p.LocalRetentionMs < -2 || p.LocalRetentionBytes < -2:
		return fmt.Errorf("%w: local retention limits below -2 (%d ms, %d bytes)", ErrConfig, p.LocalRetentionMs, p.LocalRetentionBytes)
	}
	return nil
}

// flushInterval is FlushInterval with its default applied.
func (p Policy) flushInterval() time.Duration {
	if p.FlushInterval <= 0 {
		return DefaultFlushInterval
	}
	return p.FlushInterval
}

// localLimits returns the limits applied to hot copies: the local ones with -2 resolved, or the total
// ones when remote storage is off. Kafka caps the local limits at the total ones; so does this.
func (p Policy) localLimits() (ms, bytes int64) {
	if !p.RemoteStorage {
		return p.RetentionMs, p.RetentionBytes
	}
	return capLimit(p.LocalRetentionMs, p.RetentionMs), capLimit(p.LocalRetentionBytes, p.RetentionBytes)
}

func capLimit(local, total int64) int64 {
	switch {
	case local == -2:
		return total
	case total < 0:
		return local
	case local < 0 || local > total:
		return total
	}
	return local
}

// PolicyFromConfigs reads a topic's explicitly set configs (Kafka names) over base, which supplies
// the broker's defaults for anything unset. Bad values are ErrConfig.
//
// cleanup.policy without "delete" (compact alone) turns retention.ms and retention.bytes off, as in
// Kafka, where such a topic keeps the latest record of every key for ever (the compaction package
// compacts it by key). Consumers of compacted topics (Kafka Connect's config and offset topics,
// changelogs) then lose nothing to time.
func PolicyFromConfigs(configs map[string]string, base Policy) (Policy, error) {
	p := base
	compactOnly := false
	for name, v := range configs {
		v = strings.TrimSpace(v)
		var err error
		switch name {
		case ConfigRemoteStorageEnable:
			p.RemoteStorage, err = strconv.ParseBool(v)
		case ConfigCleanupPolicy:
			compactOnly, err = isCompactOnly(v)
		case ConfigRetentionMs:
			p.RetentionMs, err = strconv.ParseInt(v, 10, 64)
		case ConfigRetentionBytes:
			p.RetentionBytes, err = strconv.ParseInt(v, 10, 64)
		case ConfigLocalRetentionMs:
			p.LocalRetentionMs, err = strconv.ParseInt(v, 10, 64)
		case ConfigLocalRetentionBytes:
			p.LocalRetentionBytes, err = strconv.ParseInt(v, 10, 64)
		case ConfigDurability:
			switch v {
			case "local":
				p.Durability = DurabilityLocal
			case "object":
				p.Durability = DurabilityObject
			default:
				err = fmt.Errorf("not local or object")
			}
		case ConfigFlushMs:
			var ms int64
			if ms, err = strconv.ParseInt(v, 10, 64); err == nil {
				if ms <= 0 {
					err = fmt.Errorf("must be positive")
				}
				p.FlushInterval = time.Duration(ms) * time.Millisecond
			}
		}
		if err != nil {
			return base, fmt.Errorf("%w: %s=%q: %v", ErrConfig, name, v, err)
		}
	}
	if compactOnly {
		p.RetentionMs, p.RetentionBytes = -1, -1
	}
	if err := p.Validate(); err != nil {
		return base, err
	}
	return p, nil
}

// isCompactOnly reports whether a cleanup.policy list ("delete", "compact", "compact,delete")
// names compact without delete.
func isCompactOnly(v string) (bool, error) {
	compact, del := false, false
	for _, item := range strings.Split(v, ",") {
		switch strings.TrimSpace(item) {
		case "compact":
			compact = true
		case "delete":
			del = true
		case "":
		default:
			return false, fmt.Errorf("not a list of delete and compact")
		}
	}
	return compact && !del, nil
}

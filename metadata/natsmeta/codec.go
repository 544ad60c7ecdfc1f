package natsmeta

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/strata-log/strata/metadata"
)

// ErrCorrupt marks a stored value that cannot be decoded.
var ErrCorrupt = errors.New("natsmeta: corrupt value")

// Key encoding. Kafka topic names may hold '.', which NATS reads as a subject token separator, and
// group names may hold anything, so names become unpadded base64url: one token of [A-Za-z0-9_-].
func nameKey(name string) string { return base64.RawURLEncoding.EncodeToString([]byte(name)) }

func parseNameKey(k string) (string, error) {
	b, err := base64.RawURLEncoding.DecodeString(k)
	if err != nil {
		return "", fmt.Errorf("%w: key %q: %v", ErrCorrupt, k, err)
	}
	return string(b), nil
}

// partitionKey is "<nameKey(topic)>.<partition>".
func partitionKey(tp metadata.TopicPartition) string {
	return nameKey(tp.Topic) + "." + strconv.FormatInt(int64(tp.Partition), 10)
}

func parsePartitionKey(k string) (metadata.TopicPartition, error) {
	name, part, ok := strings.Cut(k, ".")
	if !ok {
		return metadata.TopicPartition{}, fmt.Errorf("%w: partition key %q", ErrCorrupt, k)
	}
	topic, err := parseNameKey(name)
	if err != nil {
		return metadata.TopicPartition{}, err
	}
	p, err := strconv.ParseInt(part, 10, 32)
	if err != nil || p < 0 {
		return metadata.TopicPartition{}, fmt.Errorf("%w: partition key %q", ErrCorrupt, k)
	}
	return metadata.TopicPartition{Topic: topic, Partition: int32(p)}, nil
}

// JSON values (topics, leases, nodes, producer-id counter) carry "v": 1.
const jsonVersion = 1

type topicJSON struct {
	V          int               `json:"v"`
	Name       string            `json:"name"`
	ID         string            `json:"id"`
	Partitions int32             `json:"partitions"`
	Configs    map[string]string `json:"configs,omitempty"`
	CreatedAt  time.Time         `json:"created_at"`
}

func encodeTopic(t metadata.Topic) []byte {
	b, _ := json.Marshal(topicJSON{V: jsonVersion, Name: t.Name, ID: t.ID.String(), Partitions: t.Partitions, Configs: t.Configs, CreatedAt: t.CreatedAt})
	return b
}

func decodeTopic(b []byte) (metadata.Topic, error) {
	var j topicJSON
	if err := decodeJSON(b, &j, &j.V); err != nil {
		return metadata.Topic{}, err
	}
	id, err := metadata.ParseTopicID(j.ID)
	if err != nil {
		return metadata.Topic{}, fmt.Errorf("%w: topic: %v", ErrCorrupt, err)
	}
	return metadata.Topic{Name: j.Name, ID: id, Partitions: j.Partitions, Configs: j.Configs, CreatedAt: j.CreatedAt}, nil
}

type leaseJSON struct {
	V       int    `json:"v"`
	TopicID string `json:"topic_id"`
	Node    int32  `json:"node"`
	Epoch   int32  `json:"epoch"`
}

func decodeJSON(b []byte, dst any, v *int) error {
	if err := json.Unmarshal(b, dst); err != nil {
		return fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if *v != jsonVersion {
		return fmt.Errorf("%w: unknown version %d", ErrCorrupt, *v)
	}
	return nil
}

type nodeJSON struct {
	V         int    `json:"v"`
	ID        int32  `json:"id"`
	KafkaAddr string `json:"kafka_addr"`
	HTTPAddr  string `json:"http_addr,omitempty"`
	Rack      string `json:"rack,omitempty"`
	StartedAt int64  `json:"started_at_ms"`
}

type producersJSON struct {
	V    int   `json:"v"`
	Next int64 `json:"next"`
}

// Binary values: the partition catalog and a group's offsets. Both are framed the same way and
// integers are varints (zig-zag for signed values). Times are Unix milliseconds.
//
//	+---------+-------------+----------------------+
//	| version | body        | crc32c(version|body) |
//	| 1 byte  | ...         | 4 bytes, big endian  |
//	+---------+-------------+----------------------+
//
// Catalog body, version 1:
//
//	topic id (16 bytes) | epoch (varint) | log start (varint) | count (uvarint) | segment*
//	segment: shared key prefix len (uvarint) | suffix len (uvarint) | suffix bytes |
//	         base (varint) | next-base (uvarint) | size | min ts | max ts | epoch | records |
//	         created ms (varints)
//
// Catalog body, version 2 (written only when a segment is a range of a shared object, so that a
// catalog without ranges stays readable by version-1 code): as version 1, each segment followed by
//
//	position (varint): the segment's byte position within its object
//
// Catalog body, version 3 (written only when a segment is not in the segment format, so that
// catalogs without Parquet entries stay readable by version-1 and -2 code): as version 2, each
// segment's position followed by
//
//	format (uvarint): metadata.SegmentFormat (0 segment, 1 parquet)
//
// The key of each segment is stored as the length of the prefix it shares with the previous key
// plus the rest, since keys of one partition differ only in their last characters.
//
// Offsets body, version 1, entries sorted by topic then partition:
//
//	count (uvarint) | entry*
//	entry: shared topic prefix len (uvarint) | suffix len (uvarint) | suffix bytes | partition |
//	       offset | leader epoch (varints) | metadata len (uvarint) | metadata bytes |
//	       committed ms (varint)
const (
	catalogVersion = 1
	// catalogVersionRanges adds each segment's byte position (SegmentRef.Position).
	catalogVersionRanges = 2
	// catalogVersionFormats adds each segment's format (SegmentRef.Format).
	catalogVersionFormats = 3
	offsetsVersion        = 1
	// maxCount bounds decoded slice lengths so a corrupt count cannot make us allocate wildly.
	maxCount = 1 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func seal(b []byte) []byte { return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli)) }

func unseal(b []byte, version byte) (*reader, error) {
	if len(b) < 5 {
		return nil, fmt.Errorf("%w: %d bytes", ErrCorrupt, len(b))
	}
	body, sum := b[:len(b)-4], binary.BigEndian.Uint32(b[len(b)-4:])
	if crc32.Checksum(body, castagnoli) != sum {
		return nil, fmt.Errorf("%w: checksum mismatch", ErrCorrupt)
	}
	if body[0] != version {
		return nil, fmt.Errorf("%w: unknown version %d", ErrCorrupt, body[0])
	}
	return &reader{b: body[1:]}, nil
}

func commonPrefix(a, b string) int {
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}

func appendPrefixed(b []byte, prev, s string) []byte {
	n := commonPrefix(prev, s)
	b = binary.AppendUvarint(b, uint64(n))
	b = binary.AppendUvarint(b, uint64(len(s)-n))
	return append(b, s[n:]...)
}

func encodeCatalog(c metadata.PartitionCatalog) []byte {
	version := byte(catalogVersion)
	for _, s := range c.Segments {
		if s.Format != metadata.FormatSegment {
			version = catalogVersionFormats
			break
		}
		if s.Position != 0 {
			version = catalogVersionRanges
		}
	}
	b := make([]byte, 0, 32+len(c.Segments)*48)
	b = append(b, version)
	b = append(b, c.TopicID[:]...)
	b = binary.AppendVarint(b, int64(c.Epoch))
	b = binary.AppendVarint(b, c.LogStartOffset)
	b = binary.AppendUvarint(b, uint64(len(c.Segments)))
	prev := ""
	for _, s := range c.Segments {
		b = appendPrefixed(b, prev, s.Key)
		prev = s.Key
		b = binary.AppendVarint(b, s.BaseOffset)
		b = binary.AppendUvarint(b, uint64(s.NextOffset-s.BaseOffset))
		for _, v := range []int64{s.Size, s.MinTimestamp, s.MaxTimestamp, int64(s.Epoch), s.Records, s.CreatedAt.UnixMilli()} {
			b = binary.AppendVarint(b, v)
		}
		if version >= catalogVersionRanges {
			b = binary.AppendVarint(b, s.Position)
		}
		if version >= catalogVersionFormats {
			b = binary.AppendUvarint(b, uint64(s.Format))
		}
	}
	return seal(b)
}

func decodeCatalog(b []byte) (metadata.PartitionCatalog, error) {
	version := byte(catalogVersion)
	if len(b) > 0 && (b[0] == catalogVersionRanges || b[0] == catalogVersionFormats) {
		version = b[0]
	}
	r, err := unseal(b, version)
	if err != nil {
		return metadata.PartitionCatalog{}, err
	}
	var c metadata.PartitionCatalog
	copy(c.TopicID[:], r.bytes(16))
	c.Epoch = r.int32()
	c.LogStartOffset = r.varint()
	n := r.count()
	if n > 0 {
		c.Segments = make([]metadata.SegmentRef, 0, n)
	}
	prev := ""
	for i := 0; i < n && r.err == nil; i++ {
		var s metadata.SegmentRef
		s.Key = r.prefixed(prev)
		prev = s.Key
		s.BaseOffset = r.varint()
		s.NextOffset = s.BaseOffset + int64(r.uvarint())
		s.Size, s.MinTimestamp, s.MaxTimestamp = r.varint(), r.varint(), r.varint()
		s.Epoch = r.int32()
		s.Records = r.varint()
		s.CreatedAt = time.UnixMilli(r.varint()).UTC()
		if version >= catalogVersionRanges {
			s.Position = r.varint()
		}
		if version >= catalogVersionFormats {
			f := r.uvarint()
			if f > uint64(metadata.FormatParquet) && r.err == nil {
				r.err = fmt.Errorf("%w: catalog: unknown segment format %d", ErrCorrupt, f)
			}
			s.Format = metadata.SegmentFormat(f)
		}
		c.Segments = append(c.Segments, s)
	}
	if err := r.done(); err != nil {
		return metadata.PartitionCatalog{}, err
	}
	return c, nil
}

type offsetEntry struct {
	tp metadata.TopicPartition
	oc metadata.OffsetCommit
}

func encodeOffsets(m map[metadata.TopicPartition]metadata.OffsetCommit) []byte {
	es := make([]offsetEntry, 0, len(m))
	for tp, oc := range m {
		es = append(es, offsetEntry{tp, oc})
	}
	slices.SortFunc(es, func(a, b offsetEntry) int { return a.tp.Compare(b.tp) })
	b := make([]byte, 0, 8+len(es)*24)
	b = append(b, offsetsVersion)
	b = binary.AppendUvarint(b, uint64(len(es)))
	prev := ""
	for _, e := range es {
		b = appendPrefixed(b, prev, e.tp.Topic)
		prev = e.tp.Topic
		b = binary.AppendVarint(b, int64(e.tp.Partition))
		b = binary.AppendVarint(b, e.oc.Offset)
		b = binary.AppendVarint(b, int64(e.oc.LeaderEpoch))
		b = binary.AppendUvarint(b, uint64(len(e.oc.Metadata)))
		b = append(b, e.oc.Metadata...)
		b = binary.AppendVarint(b, e.oc.CommittedAt.UnixMilli())
	}
	return seal(b)
}

func decodeOffsets(b []byte) (map[metadata.TopicPartition]metadata.OffsetCommit, error) {
	r, err := unseal(b, offsetsVersion)
	if err != nil {
		return nil, err
	}
	n := r.count()
	m := make(map[metadata.TopicPartition]metadata.OffsetCommit, n)
	prev := ""
	for i := 0; i < n && r.err == nil; i++ {
		var tp metadata.TopicPartition
		var oc metadata.OffsetCommit
		tp.Topic = r.prefixed(prev)
		prev = tp.Topic
		tp.Partition = r.int32()
		oc.Offset = r.varint()
		oc.LeaderEpoch = r.int32()
		oc.Metadata = string(r.bytes(r.count()))
		oc.CommittedAt = time.UnixMilli(r.varint()).UTC()
		m[tp] = oc
	}
	if err := r.done(); err != nil {
		return nil, err
	}
	return m, nil
}

// reader decodes varints and byte strings, remembering the first error.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail(what string) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: truncated or bad %s", ErrCorrupt, what)
	}
	r.b = nil
}

func (r *reader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail("uvarint")
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail("varint")
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) int32() int32 {
	v := r.varint()
	if v != int64(int32(v)) {
		r.fail("int32")
		return 0
	}
	return int32(v)
}

// count reads a length that must fit in what is left of the input.
func (r *reader) count() int {
	v := r.uvarint()
	if v > maxCount || v > uint64(len(r.b)) {
		r.fail("count")
		return 0
	}
	return int(v)
}

func (r *reader) bytes(n int) []byte {
	if n < 0 || n > len(r.b) {
		r.fail("bytes")
		return nil
	}
	out := r.b[:n:n]
	r.b = r.b[n:]
	return out
}

func (r *reader) prefixed(prev string) string {
	shared := r.uvarint()
	if shared > uint64(len(prev)) {
		r.fail("key prefix")
		return ""
	}
	suffix := r.bytes(r.count())
	return prev[:shared] + string(suffix)
}

func (r *reader) done() error {
	if r.err == nil && len(r.b) != 0 {
		r.err = fmt.Errorf("%w: %d trailing bytes", ErrCorrupt, len(r.b))
	}
	return r.err
}

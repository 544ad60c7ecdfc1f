package natsmeta

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/strata-log/strata/metadata"
)

func sampleCatalog() metadata.PartitionCatalog {
	id := metadata.NewTopicID()
	return metadata.PartitionCatalog{
		TopicID: id, Epoch: 7, LogStartOffset: 100,
		Segments: []metadata.SegmentRef{
			{Key: "p/topics/" + id.String() + "/0/00000000000000000100-7.seg", BaseOffset: 100, NextOffset: 250, Size: 4096,
				MinTimestamp: -1, MaxTimestamp: -1, Epoch: 7, Records: 150, CreatedAt: time.UnixMilli(1_700_000_000_000).UTC()},
			{Key: "p/topics/" + id.String() + "/0/00000000000000000250-7.seg", BaseOffset: 250, NextOffset: 251, Size: 1,
				MinTimestamp: 5, MaxTimestamp: 9, Epoch: 7, Records: 1, CreatedAt: time.UnixMilli(1_700_000_000_001).UTC()},
			{Key: "other", BaseOffset: 251, NextOffset: 1 << 40, Size: 1 << 33, Epoch: 8, CreatedAt: time.UnixMilli(0).UTC()},
		},
	}
}

func TestCatalogRoundTrip(t *testing.T) {
	for _, c := range []metadata.PartitionCatalog{{}, {Epoch: -1, LogStartOffset: 5}, sampleCatalog()} {
		got, err := decodeCatalog(encodeCatalog(c))
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, c) {
			t.Fatalf("round trip:\n got %+v\nwant %+v", got, c)
		}
	}
}

// A catalog naming ranges of shared objects round-trips with their positions; one without is still
// written as version 1, byte for byte what older code wrote and reads.
func TestCatalogRangesRoundTrip(t *testing.T) {
	c := sampleCatalog()
	v1 := encodeCatalog(c)
	if v1[0] != catalogVersion {
		t.Fatalf("a catalog without ranges encodes as version %d", v1[0])
	}
	c.Segments[1].Key = "p/shared/3/00000001700000000000000-00ff.seg"
	c.Segments[1].Position = 1 << 20
	b := encodeCatalog(c)
	if b[0] != catalogVersionRanges {
		t.Fatalf("a catalog with ranges encodes as version %d", b[0])
	}
	got, err := decodeCatalog(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, c) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, c)
	}
	old, err := decodeCatalog(v1)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(old, sampleCatalogAs(c)) {
		t.Fatalf("version 1 decodes as %+v", old)
	}
}

// A catalog naming a Parquet entry round-trips with the formats (version 3); catalogs without one
// keep versions 1 and 2, and a version-2 catalog decodes every entry as a segment.
func TestCatalogFormatsRoundTrip(t *testing.T) {
	c := sampleCatalog()
	c.Segments[1].Position = 1 << 20
	v2 := encodeCatalog(c)
	c.Segments[0].Format = metadata.FormatParquet
	b := encodeCatalog(c)
	if b[0] != catalogVersionFormats || v2[0] != catalogVersionRanges {
		t.Fatalf("versions %d (with a Parquet entry) and %d (without)", b[0], v2[0])
	}
	got, err := decodeCatalog(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, c) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, c)
	}
	old, err := decodeCatalog(v2)
	if err != nil {
		t.Fatal(err)
	}
	if old.Segments[0].Format != metadata.FormatSegment {
		t.Fatalf("a version-2 entry decodes as %s", old.Segments[0].Format)
	}
	// An unknown format is corrupt, not a segment.
	c.Segments[0].Format = 9
	if _, err := decodeCatalog(encodeCatalog(c)); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("unknown format: %v", err)
	}
}

// sampleCatalogAs is sampleCatalog with c's topic ID, every position 0.
func sampleCatalogAs(c metadata.PartitionCatalog) metadata.PartitionCatalog {
	c = c.Clone()
	c.Segments[1] = sampleCatalog().Segments[1]
	c.Segments[1].Key = "p/topics/" + c.TopicID.String() + "/0/00000000000000000250-7.seg"
	return c
}

func TestOffsetsRoundTrip(t *testing.T) {
	m := map[metadata.TopicPartition]metadata.OffsetCommit{
		{Topic: "a.b", Partition: 0}:  {Offset: 1, LeaderEpoch: -1, CommittedAt: time.UnixMilli(5).UTC()},
		{Topic: "a.b", Partition: 12}: {Offset: 1 << 50, LeaderEpoch: 3, Metadata: "x\x00y", CommittedAt: time.UnixMilli(6).UTC()},
		{Topic: "a.c", Partition: 0}:  {Offset: -1, CommittedAt: time.UnixMilli(7).UTC()},
	}
	got, err := decodeOffsets(encodeOffsets(m))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, m) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, m)
	}
	if !bytes.Equal(encodeOffsets(m), encodeOffsets(got)) {
		t.Fatal("encoding is not deterministic")
	}
}

func TestDecodeRejectsDamage(t *testing.T) {
	good := encodeCatalog(sampleCatalog())
	cases := map[string][]byte{
		"empty":     nil,
		"short":     good[:4],
		"truncated": good[:len(good)-5],
		"bit flip":  flip(good, 20),
		"version":   reseal(append([]byte{9}, good[1:len(good)-4]...)),
		"trailing":  reseal(append(append([]byte{}, good[:len(good)-4]...), 0)),
	}
	for name, b := range cases {
		if _, err := decodeCatalog(b); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: decodeCatalog err = %v, want ErrCorrupt", name, err)
		}
	}
}

func flip(b []byte, i int) []byte {
	out := bytes.Clone(b)
	out[i] ^= 0x10
	return out
}

func reseal(body []byte) []byte { return seal(body) }

func TestKeys(t *testing.T) {
	cases := []metadata.TopicPartition{{Topic: "a.b", Partition: 0}, {Topic: "a_b", Partition: 1}, {Topic: "a-b", Partition: 2147483647}, {Topic: "_.-", Partition: 3}}
	seen := map[string]bool{}
	for _, tp := range cases {
		k := partitionKey(tp)
		if seen[k] {
			t.Fatalf("key %q collides", k)
		}
		seen[k] = true
		got, err := parsePartitionKey(k)
		if err != nil || got != tp {
			t.Fatalf("parsePartitionKey(%q) = %v, %v; want %v", k, got, err, tp)
		}
		for _, r := range k {
			if !(r == '.' || r == '-' || r == '_' || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9')) {
				t.Fatalf("key %q has %q, not a subject token character", k, r)
			}
		}
	}
	for _, bad := range []string{"", "abc", "YQ.x", "YQ.-1", "!!.1"} {
		if _, err := parsePartitionKey(bad); !errors.Is(err, ErrCorrupt) {
			t.Errorf("parsePartitionKey(%q) err = %v", bad, err)
		}
	}
}

func FuzzDecodeCatalog(f *testing.F) {
	f.Add(encodeCatalog(sampleCatalog()))
	f.Add(encodeCatalog(metadata.PartitionCatalog{}))
	ranged := sampleCatalog()
	ranged.Segments[2].Position = 77
	f.Add(encodeCatalog(ranged))
	ranged.Segments[1].Format = metadata.FormatParquet
	f.Add(encodeCatalog(ranged))
	f.Add([]byte{1, 2, 3, 4, 5})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := decodeCatalog(b)
		if err != nil {
			return
		}
		again, err := decodeCatalog(encodeCatalog(c))
		if err != nil || !reflect.DeepEqual(again, c) {
			t.Fatalf("re-encode changed the catalog: %v", err)
		}
	})
}

func FuzzDecodeOffsets(f *testing.F) {
	f.Add(encodeOffsets(map[metadata.TopicPartition]metadata.OffsetCommit{{Topic: "t", Partition: 1}: {Offset: 5, Metadata: "m"}}))
	f.Add(encodeOffsets(nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodeOffsets(b)
		if err != nil {
			return
		}
		again, err := decodeOffsets(encodeOffsets(m))
		if err != nil || !reflect.DeepEqual(again, m) {
			t.Fatalf("re-encode changed the offsets: %v", err)
		}
	})
}

func FuzzDecodeJSON(f *testing.F) {
	f.Add(encodeTopic(metadata.Topic{Name: "t", ID: metadata.NewTopicID(), Partitions: 1}))
	f.Add(encodeLease(metadata.NewTopicID(), 1, 2))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = decodeTopic(b)
		_, _, _ = decodeLease(metadata.TopicPartition{}, b)
	})
}

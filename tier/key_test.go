package tier

import (
	"errors"
	"testing"

	"github.com/strata-log/strata/metadata"
)

func TestMergedObjectKey(t *testing.T) {
	id := metadata.NewTopicID()
	key := MergedObjectKey("p/", id, 3, 100, 250, 7)
	if want := "p/topics/" + id.String() + "/3/00000000000000000100-00000000000000000250-7.seg"; key != want {
		t.Fatalf("key %q, want %q", key, want)
	}
	k, err := ParseObjectKey(key)
	if err != nil {
		t.Fatal(err)
	}
	want := ParsedKey{Prefix: "p", TopicID: id, Partition: 3, BaseOffset: 100, NextOffset: 250, Epoch: 7}
	if k != want || !k.Merged() || k.String() != key {
		t.Fatalf("%q parsed as %+v (merged %v, string %q)", key, k, k.Merged(), k.String())
	}

	up, err := ParseObjectKey(ObjectKey("p", id, 3, 100, 7))
	if err != nil {
		t.Fatal(err)
	}
	if up.Merged() || up.NextOffset != -1 || up.BaseOffset != 100 || up.Epoch != 7 {
		t.Fatalf("uploaded key parsed as %+v", up)
	}
	// The two layouts never produce the same key, whatever the numbers.
	for _, base := range []int64{0, 1, 100} {
		for _, e := range []int32{0, 7, 250} {
			if ObjectKey("", id, 0, base, e) == MergedObjectKey("", id, 0, base, 250, e) {
				t.Fatalf("collision at base %d epoch %d", base, e)
			}
		}
	}
}

func TestParseMergedObjectKeyRejects(t *testing.T) {
	dir := "topics/" + metadata.NewTopicID().String() + "/0/"
	for name, key := range map[string]string{
		"next not above base": dir + "00000000000000000100-00000000000000000100-1.seg",
		"next below base":     dir + "00000000000000000100-00000000000000000099-1.seg",
		"short next":          dir + "00000000000000000100-250-1.seg",
		"four fields":         dir + "00000000000000000100-00000000000000000250-1-2.seg",
		"negative epoch":      dir + "00000000000000000100-00000000000000000250--1.seg",
		"empty epoch":         dir + "00000000000000000100-00000000000000000250-.seg",
		"non-numeric next":    dir + "00000000000000000100-0000000000000000025x-1.seg",
		"wrong suffix":        dir + "00000000000000000100-00000000000000000250-1.log",
		"base only, no epoch": dir + "00000000000000000100.seg",
	} {
		t.Run(name, func(t *testing.T) {
			if k, err := ParseObjectKey(key); !errors.Is(err, ErrBadKey) {
				t.Fatalf("ParseObjectKey(%q) = %+v, %v", key, k, err)
			}
		})
	}
}

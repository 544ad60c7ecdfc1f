package tier

import (
	"errors"
	"strings"
	"testing"
	"time"

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

func TestSharedObjectKey(t *testing.T) {
	at := time.Unix(1_700_000_000, 123)
	for _, prefix := range []string{"", "p", "a/b/", "topics"} {
		key := SharedObjectKey(prefix, 12, at)
		k, err := ParseObjectKey(key)
		if err != nil {
			t.Fatal(err)
		}
		if !k.Shared || k.Node != 12 || k.Written != at.UnixNano() || len(k.Nonce) != 16 || k.Prefix != trimSlash(prefix) ||
			k.String() != key || k.Merged() || !IsSharedKey(key) {
			t.Fatalf("%q parsed as %+v", key, k)
		}
		if !strings.HasPrefix(key, SharedDir(prefix)) {
			t.Fatalf("%q not under %q", key, SharedDir(prefix))
		}
	}
	if a, b := SharedObjectKey("", 1, at), SharedObjectKey("", 1, at); a == b {
		t.Fatal("two keys of one node at one instant collide")
	}
	if IsSharedKey(ObjectKey("", metadata.NewTopicID(), 0, 5, 1)) {
		t.Fatal("a partition's object taken for a shared one")
	}
	for name, key := range map[string]string{
		"short time":     "shared/1/1700-0123456789abcdef.seg",
		"short nonce":    "shared/1/00000000000000000001-0123.seg",
		"upper nonce":    "shared/1/00000000000000000001-0123456789ABCDEF.seg",
		"bad nonce":      "shared/1/00000000000000000001-0123456789abcdeg.seg",
		"negative node":  "shared/-1/00000000000000000001-0123456789abcdef.seg",
		"padded node":    "shared/01/00000000000000000001-0123456789abcdef.seg",
		"no nonce":       "shared/1/00000000000000000001.seg",
		"wrong suffix":   "shared/1/00000000000000000001-0123456789abcdef.log",
		"negative time":  "shared/1/-0000000000000000001-0123456789abcdef.seg",
		"node not a num": "shared/x/00000000000000000001-0123456789abcdef.seg",
	} {
		if k, err := ParseObjectKey(key); !errors.Is(err, ErrBadKey) {
			t.Errorf("%s: ParseObjectKey(%q) = %+v, %v", name, key, k, err)
		}
	}
}

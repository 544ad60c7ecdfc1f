package tier

import (
	"errors"
	"testing"

	"github.com/strata-log/strata/metadata"
)

func TestRewrittenObjectKey(t *testing.T) {
	id := metadata.NewTopicID()
	key := RewrittenObjectKey("p/", id, 3, 100, 250, 7, 12)
	if want := "p/topics/" + id.String() + "/3/00000000000000000100-00000000000000000250-7.c12.seg"; key != want {
		t.Fatalf("key %q, want %q", key, want)
	}
	k, err := ParseObjectKey(key)
	// A generation is a rewrite's: it needs a merged key's next offset.
	if err != nil || !k.Merged() || k.BaseOffset != 100 || k.NextOffset != 250 || k.Epoch != 7 || k.Generation != 12 || k.String() != key {
		t.Fatalf("parsed %+v, %v", k, err)
	}
	if k, err := ParseObjectKey(MergedObjectKey("p", id, 3, 100, 250, 7)); err != nil || k.Generation != 0 {
		t.Fatalf("merged key parsed %+v, %v", k, err)
	}
	dir := "topics/" + id.String() + "/0/"
	for name, bad := range map[string]string{
		"generation 0":        dir + "00000000000000000100-00000000000000000200-1-0.seg",
		"negative generation": dir + "00000000000000000100-00000000000000000200-1--1.seg",
		"generation, no next": dir + "00000000000000000100-1-2.seg",
		"not a number":        dir + "00000000000000000100-00000000000000000200-1-x.seg",
		"five fields":         dir + "00000000000000000100-00000000000000000200-1-2-3.seg",
		"next not above base": dir + "00000000000000000100-00000000000000000100-1-2.seg",
	} {
		if k, err := ParseObjectKey(bad); !errors.Is(err, ErrBadKey) {
			t.Errorf("%s: %q parsed as %+v", name, bad, k)
		}
	}
}

package natsmeta

import (
	"errors"
	"testing"

	"github.com/strata-log/strata/metadata"
)

func sampleACL() metadata.ACL {
	return metadata.ACL{ResourceType: metadata.ResourceTopic, ResourceName: "orders.", PatternType: metadata.PatternPrefixed,
		Principal: "User:CN=alice,O=Example", Host: "10.0.0.1", Operation: metadata.OpWrite, Permission: metadata.PermissionDeny}
}

func TestACLCodec(t *testing.T) {
	a := sampleACL()
	got, err := decodeACL(encodeACL(a))
	if err != nil || got != a {
		t.Fatalf("round trip = %v, %v; want %v", got, err, a)
	}
	if aclKey(a) != aclKey(got) {
		t.Fatal("the key of an ACL changed over a round trip")
	}
	b := a
	b.Permission = metadata.PermissionAllow
	if aclKey(a) == aclKey(b) {
		t.Fatal("an allow and a deny share a key")
	}
	for name, in := range map[string]string{
		"not json":        "{",
		"version":         `{"v":2,"resource_type":2,"resource_name":"t","pattern_type":3,"principal":"User:a","host":"*","operation":3,"permission":3}`,
		"resource type":   `{"v":1,"resource_type":9,"resource_name":"t","pattern_type":3,"principal":"User:a","host":"*","operation":3,"permission":3}`,
		"principal":       `{"v":1,"resource_type":2,"resource_name":"t","pattern_type":3,"principal":"a","host":"*","operation":3,"permission":3}`,
		"operation range": `{"v":1,"resource_type":2,"resource_name":"t","pattern_type":3,"principal":"User:a","host":"*","operation":99,"permission":3}`,
	} {
		if _, err := decodeACL([]byte(in)); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: decode error %v, want ErrCorrupt", name, err)
		}
	}
}

func FuzzDecodeACL(f *testing.F) {
	f.Add(encodeACL(sampleACL()))
	f.Add(encodeACL(metadata.ACL{ResourceType: metadata.ResourceCluster, ResourceName: metadata.ClusterResourceName,
		PatternType: metadata.PatternLiteral, Principal: "User:*", Host: "*", Operation: metadata.OpAll, Permission: metadata.PermissionAllow}))
	f.Add([]byte(`{"v":1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		a, err := decodeACL(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("decode error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		if err := a.Validate(); err != nil {
			t.Fatalf("decoded an invalid ACL %v: %v", a, err)
		}
		again, err := decodeACL(encodeACL(a))
		if err != nil || again != a {
			t.Fatalf("re-encode changed the ACL: %v, %v", again, err)
		}
	})
}

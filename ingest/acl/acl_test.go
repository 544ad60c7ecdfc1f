package acl_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/strata-log/strata/ingest/acl"
	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/metadata/memmeta"
)

func entry(perm metadata.ACLPermission, rt metadata.ResourceType, pt metadata.PatternType, name, principal, host string, op metadata.ACLOperation) metadata.ACL {
	return metadata.ACL{ResourceType: rt, ResourceName: name, PatternType: pt, Principal: principal, Host: host, Operation: op, Permission: perm}
}

const (
	allow = metadata.PermissionAllow
	deny  = metadata.PermissionDeny
	lit   = metadata.PatternLiteral
	pre   = metadata.PatternPrefixed
	topic = metadata.ResourceTopic
)

func newAuthorizer(t *testing.T, acls ...metadata.ACL) (*acl.Authorizer, *memmeta.Store) {
	t.Helper()
	s, err := memmeta.New(memmeta.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	ctx := context.Background()
	if len(acls) > 0 {
		if err := s.CreateACLs(ctx, acls); err != nil {
			t.Fatal(err)
		}
	}
	a, err := acl.New(ctx, acl.Config{Store: s, SuperUsers: []string{"User:admin"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close() })
	return a, s
}

func TestAuthorize(t *testing.T) {
	a, _ := newAuthorizer(t,
		entry(allow, topic, lit, "orders", "User:alice", "*", metadata.OpRead),
		entry(allow, topic, pre, "logs.", "User:alice", "*", metadata.OpWrite),
		entry(deny, topic, lit, "logs.secret", "User:alice", "*", metadata.OpWrite),
		entry(allow, topic, lit, "*", "User:*", "*", metadata.OpDescribe),
		entry(allow, topic, lit, "conf", "User:bob", "*", metadata.OpAlterConfigs),
		entry(allow, topic, lit, "all", "User:bob", "10.0.0.1", metadata.OpAll),
		entry(deny, topic, lit, "orders", "User:*", "10.6.6.6", metadata.OpAll),
		entry(allow, metadata.ResourceGroup, pre, "app-", "User:alice", "*", metadata.OpRead),
		entry(deny, topic, lit, "denyread", "User:carol", "*", metadata.OpRead),
		entry(allow, topic, lit, "denyread", "User:carol", "*", metadata.OpAll),
	)
	for _, c := range []struct {
		name      string
		principal string
		host      string
		op        metadata.ACLOperation
		rt        metadata.ResourceType
		resource  string
		want      bool
	}{
		{"literal allow", "User:alice", "1.2.3.4", metadata.OpRead, topic, "orders", true},
		{"other operation", "User:alice", "1.2.3.4", metadata.OpWrite, topic, "orders", false},
		{"other principal", "User:bob", "1.2.3.4", metadata.OpRead, topic, "orders", false},
		{"no ACL: deny", "User:alice", "1.2.3.4", metadata.OpRead, topic, "nothing", false},
		{"READ implies DESCRIBE", "User:alice", "1.2.3.4", metadata.OpDescribe, topic, "orders", true},
		{"wildcard principal and resource", "User:zed", "1.2.3.4", metadata.OpDescribe, topic, "anything", true},
		{"prefixed allow", "User:alice", "1.2.3.4", metadata.OpWrite, topic, "logs.app", true},
		{"prefix is not the name", "User:alice", "1.2.3.4", metadata.OpWrite, topic, "logs", false},
		{"deny beats allow", "User:alice", "1.2.3.4", metadata.OpWrite, topic, "logs.secret", false},
		{"ALTER_CONFIGS implies DESCRIBE_CONFIGS", "User:bob", "1.2.3.4", metadata.OpDescribeConfigs, topic, "conf", true},
		{"DESCRIBE_CONFIGS does not imply ALTER_CONFIGS", "User:bob", "1.2.3.4", metadata.OpAlter, topic, "conf", false},
		{"ALL from the right host", "User:bob", "10.0.0.1", metadata.OpDelete, topic, "all", true},
		{"ALL from another host", "User:bob", "10.0.0.2", metadata.OpDelete, topic, "all", false},
		{"deny ALL from a host", "User:alice", "10.6.6.6", metadata.OpRead, topic, "orders", false},
		{"deny READ does not deny DESCRIBE", "User:carol", "1.2.3.4", metadata.OpDescribe, topic, "denyread", true},
		{"deny READ denies READ despite ALL", "User:carol", "1.2.3.4", metadata.OpRead, topic, "denyread", false},
		{"group prefix", "User:alice", "1.2.3.4", metadata.OpRead, metadata.ResourceGroup, "app-1", true},
		{"type matters", "User:alice", "1.2.3.4", metadata.OpRead, metadata.ResourceGroup, "orders", false},
		{"super user", "User:admin", "1.2.3.4", metadata.OpAlter, metadata.ResourceCluster, metadata.ClusterResourceName, true},
		{"anonymous", acl.Anonymous, "1.2.3.4", metadata.OpRead, topic, "orders", false},
	} {
		if got := a.Authorize(c.principal, c.host, c.op, c.rt, c.resource); got != c.want {
			t.Errorf("%s: Authorize(%s, %s, %s, %d, %q) = %v, want %v", c.name, c.principal, c.host, c.op, c.rt, c.resource, got, c.want)
		}
	}
}

func TestAuthorizeAny(t *testing.T) {
	for _, c := range []struct {
		name string
		acls []metadata.ACL
		want bool
	}{
		{"none", nil, false},
		{"a literal", []metadata.ACL{entry(allow, topic, lit, "t", "User:p", "*", metadata.OpWrite)}, true},
		{"ALL on a prefix", []metadata.ACL{entry(allow, topic, pre, "x", "User:*", "*", metadata.OpAll)}, true},
		{"READ only", []metadata.ACL{entry(allow, topic, lit, "t", "User:p", "*", metadata.OpRead)}, false},
		{"denied literal", []metadata.ACL{entry(allow, topic, lit, "t", "User:p", "*", metadata.OpWrite),
			entry(deny, topic, lit, "t", "User:p", "*", metadata.OpWrite)}, false},
		{"denied by a shorter prefix", []metadata.ACL{entry(allow, topic, pre, "abc", "User:p", "*", metadata.OpWrite),
			entry(deny, topic, pre, "ab", "User:p", "*", metadata.OpAll)}, false},
		{"a longer deny prefix leaves the rest", []metadata.ACL{entry(allow, topic, pre, "ab", "User:p", "*", metadata.OpWrite),
			entry(deny, topic, pre, "abc", "User:p", "*", metadata.OpWrite)}, true},
		{"wildcard deny", []metadata.ACL{entry(allow, topic, lit, "t", "User:p", "*", metadata.OpWrite),
			entry(deny, topic, lit, "*", "User:*", "*", metadata.OpWrite)}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			a, _ := newAuthorizer(t, c.acls...)
			if got := a.AuthorizeAny("User:p", "1.1.1.1", metadata.OpWrite, topic); got != c.want {
				t.Fatalf("AuthorizeAny = %v, want %v", got, c.want)
			}
		})
	}
}

// A change written to the store by someone else (another node) applies through the watch; a
// change through the Authorizer applies before Create returns.
func TestWatchAppliesChanges(t *testing.T) {
	a, s := newAuthorizer(t)
	ctx := context.Background()
	read := entry(allow, topic, lit, "t", "User:p", "*", metadata.OpRead)
	if a.Authorize("User:p", "h", metadata.OpRead, topic, "t") {
		t.Fatal("allowed before any ACL")
	}
	if err := s.CreateACLs(ctx, []metadata.ACL{read}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !a.Authorize("User:p", "h", metadata.OpRead, topic, "t") {
		if time.Now().After(deadline) {
			t.Fatal("an ACL created in the store never applied")
		}
		time.Sleep(5 * time.Millisecond)
	}
	write := entry(allow, topic, lit, "t", "User:p", "*", metadata.OpWrite)
	if err := a.Create(ctx, []metadata.ACL{write}); err != nil {
		t.Fatal(err)
	}
	if !a.Authorize("User:p", "h", metadata.OpWrite, topic, "t") {
		t.Fatal("an ACL created through the authorizer did not apply at once")
	}
	got, err := a.Delete(ctx, metadata.ACLFilter{ResourceType: metadata.ResourceAny, PatternType: metadata.PatternAny,
		Operation: metadata.OpWrite, Permission: metadata.PermissionAny})
	if err != nil || len(got) != 1 || got[0] != write {
		t.Fatalf("Delete = %v, %v; want [%v]", got, err, write)
	}
	if a.Authorize("User:p", "h", metadata.OpWrite, topic, "t") {
		t.Fatal("a deleted ACL still applies")
	}
}

func TestParseSuperUsers(t *testing.T) {
	got, err := acl.ParseSuperUsers("User:a, User:b;User:c,")
	if err != nil || len(got) != 3 || got[0] != "User:a" || got[1] != "User:b" || got[2] != "User:c" {
		t.Fatalf("ParseSuperUsers = %v, %v", got, err)
	}
	if _, err := acl.ParseSuperUsers("admin"); err == nil {
		t.Fatal("a principal without a type was accepted")
	}
}

// BenchmarkAuthorize decides a Produce's WRITE among 1,000 literal and 100 prefixed ACLs of
// other principals and topics, with the one that allows it last.
func BenchmarkAuthorize(b *testing.B) {
	var acls []metadata.ACL
	for i := range 1000 {
		acls = append(acls, entry(allow, topic, lit, fmt.Sprintf("topic-%d", i), fmt.Sprintf("User:u%d", i), "*", metadata.OpWrite))
	}
	for i := range 100 {
		acls = append(acls, entry(allow, topic, pre, fmt.Sprintf("p%d-", i), fmt.Sprintf("User:u%d", i), "*", metadata.OpRead))
	}
	acls = append(acls, entry(allow, topic, lit, "orders", "User:alice", "*", metadata.OpWrite))
	s, err := memmeta.New(memmeta.Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if err := s.CreateACLs(ctx, acls); err != nil {
		b.Fatal(err)
	}
	a, err := acl.New(ctx, acl.Config{Store: s})
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if !a.Authorize("User:alice", "10.0.0.1", metadata.OpWrite, topic, "orders") {
			b.Fatal("denied")
		}
	}
}

package metatest

import (
	"context"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/strata-log/strata/metadata"
)

func strp(s string) *string { return &s }

// testACLs: create (idempotent), list in order, invalid ACLs store nothing, delete by filters of
// every kind (exact, any, match), and the watch signals creates and deletes.
func testACLs(t *testing.T, newStore NewStore) {
	s := newStore(t)
	ctx := ctxT(t)
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	watch, err := s.WatchACLs(wctx)
	must(t, err, "WatchACLs")

	got, err := s.ListACLs(ctx)
	must(t, err, "ListACLs of an empty store")
	if len(got) != 0 {
		t.Fatalf("ListACLs of an empty store = %v", got)
	}
	allow := func(rt metadata.ResourceType, name string, pt metadata.PatternType, principal string, op metadata.ACLOperation) metadata.ACL {
		return metadata.ACL{ResourceType: rt, ResourceName: name, PatternType: pt, Principal: principal, Host: "*",
			Operation: op, Permission: metadata.PermissionAllow}
	}
	readOrders := allow(metadata.ResourceTopic, "orders", metadata.PatternLiteral, "User:alice", metadata.OpRead)
	writePrefix := allow(metadata.ResourceTopic, "ord", metadata.PatternPrefixed, "User:bob", metadata.OpWrite)
	wildcard := allow(metadata.ResourceTopic, "*", metadata.PatternLiteral, "User:*", metadata.OpDescribe)
	group := allow(metadata.ResourceGroup, "g1", metadata.PatternLiteral, "User:alice", metadata.OpRead)
	deny := readOrders
	deny.Permission, deny.Host = metadata.PermissionDeny, "10.0.0.1"
	cluster := allow(metadata.ResourceCluster, metadata.ClusterResourceName, metadata.PatternLiteral, "User:ops", metadata.OpAlter)
	all := []metadata.ACL{readOrders, writePrefix, wildcard, group, deny, cluster}
	must(t, s.CreateACLs(ctx, all), "CreateACLs")
	waitSignal(t, watch, "after CreateACLs")

	bad := allow(metadata.ResourceCluster, "other", metadata.PatternLiteral, "User:x", metadata.OpAlter)
	mustErrIs(t, s.CreateACLs(ctx, []metadata.ACL{allow(metadata.ResourceGroup, "g2", metadata.PatternLiteral, "User:x", metadata.OpRead), bad}),
		metadata.ErrInvalidACL, "CreateACLs with a cluster resource not named kafka-cluster")
	noPrincipalType := readOrders
	noPrincipalType.Principal = "alice"
	mustErrIs(t, s.CreateACLs(ctx, []metadata.ACL{noPrincipalType}), metadata.ErrInvalidACL, "CreateACLs with principal without a type")

	want := append([]metadata.ACL(nil), all...)
	sortACLs(want)
	got, err = s.ListACLs(ctx)
	must(t, err, "ListACLs")
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("ListACLs = %v\nwant %v", got, want)
	}

	// Creating what is stored changes nothing.
	drain(watch)
	must(t, s.CreateACLs(ctx, []metadata.ACL{readOrders}), "CreateACLs again")
	got, err = s.ListACLs(ctx)
	must(t, err, "ListACLs after a repeated create")
	if len(got) != len(all) {
		t.Fatalf("a repeated create stored a copy: %d ACLs, want %d", len(got), len(all))
	}

	// Filters that select nothing delete nothing.
	del, err := s.DeleteACLs(ctx, metadata.ACLFilter{ResourceType: metadata.ResourceTopic, ResourceName: strp("nope"),
		PatternType: metadata.PatternAny, Operation: metadata.OpAny, Permission: metadata.PermissionAny})
	must(t, err, "DeleteACLs of nothing")
	if len(del) != 0 {
		t.Fatalf("DeleteACLs of nothing deleted %v", del)
	}
	_, err = s.DeleteACLs(ctx, metadata.ACLFilter{ResourceType: 9, PatternType: metadata.PatternAny, Operation: metadata.OpAny, Permission: metadata.PermissionAny})
	mustErrIs(t, err, metadata.ErrInvalidACL, "DeleteACLs with an unknown resource type")

	// MATCH on "orders": the literal, the wildcard and the prefix, never the group or cluster.
	// Restricted to allows, the deny stays.
	del, err = s.DeleteACLs(ctx, metadata.ACLFilter{ResourceType: metadata.ResourceTopic, ResourceName: strp("orders"),
		PatternType: metadata.PatternMatch, Operation: metadata.OpAny, Permission: metadata.PermissionAllow})
	must(t, err, "DeleteACLs MATCH")
	wantDel := []metadata.ACL{readOrders, writePrefix, wildcard}
	sortACLs(wantDel)
	if !reflect.DeepEqual(del, wantDel) {
		t.Fatalf("DeleteACLs MATCH = %v\nwant %v", del, wantDel)
	}
	waitSignal(t, watch, "after DeleteACLs")

	// By principal, any resource.
	del, err = s.DeleteACLs(ctx, metadata.ACLFilter{ResourceType: metadata.ResourceAny, PatternType: metadata.PatternAny,
		Principal: strp("User:alice"), Operation: metadata.OpAny, Permission: metadata.PermissionAny})
	must(t, err, "DeleteACLs by principal")
	wantDel = []metadata.ACL{deny, group}
	sortACLs(wantDel)
	if !reflect.DeepEqual(del, wantDel) {
		t.Fatalf("DeleteACLs by principal = %v\nwant %v", del, wantDel)
	}
	got, err = s.ListACLs(ctx)
	must(t, err, "ListACLs after deletes")
	if !reflect.DeepEqual(got, []metadata.ACL{cluster}) {
		t.Fatalf("ListACLs after deletes = %v, want only %v", got, cluster)
	}

	cancel()
	deadline := time.After(waitLimit)
	for {
		select {
		case _, ok := <-watch:
			if !ok {
				return
			}
		case <-deadline:
			t.Fatal("WatchACLs channel not closed after its ctx ended")
		}
	}
}

func sortACLs(acls []metadata.ACL) { slices.SortFunc(acls, metadata.CompareACLs) }

func waitSignal(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case _, ok := <-ch:
		if !ok {
			t.Fatalf("watch closed %s", what)
		}
	case <-time.After(waitLimit):
		t.Fatalf("no watch signal %s", what)
	}
}

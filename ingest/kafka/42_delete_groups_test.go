package kafka

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestGroupAdminWithKadm drives ListGroups, DescribeGroups, OffsetDelete and DeleteGroups through
// franz-go's admin client against a live group and a group known only from its offsets.
func TestGroupAdminWithKadm(t *testing.T) {
	n := startNode(t, nodeOpts{})
	ctx := context.Background()
	adm := n.admin(t)
	n.createTopic(t, "events", 2, nil)
	n.createTopic(t, "audit", 1, nil)
	round := produceRound(t, n, "events", 0, 2)

	live := startMember(t, n, "live", "events", kgo.ClientID("admin-test"))
	eventually(t, "live consumed events", func() bool { return consumedAll([]*groupMember{live}, round) })

	// A simple consumer commits to a second group without joining it.
	offsets := kadm.Offsets{}
	offsets.Add(kadm.Offset{Topic: "audit", Partition: 0, At: 7, LeaderEpoch: -1})
	offsets.Add(kadm.Offset{Topic: "events", Partition: 1, At: 1, LeaderEpoch: -1})
	if resp, err := adm.CommitOffsets(ctx, "batch", offsets); err != nil || resp.Error() != nil {
		t.Fatalf("commit for batch: %v %v", err, resp.Error())
	}
	// The live group also has an offset on a topic it does not subscribe to.
	extra := kadm.Offsets{}
	extra.Add(kadm.Offset{Topic: "audit", Partition: 0, At: 1, LeaderEpoch: -1})
	if resp, err := adm.CommitOffsets(ctx, "live", extra); err != nil || !errors.Is(resp.Error(), kerr.UnknownMemberID) {
		// The group has members, so a commit without a generation is refused, as in Kafka.
		t.Fatalf("commit without membership to a live group: %v %v, want UNKNOWN_MEMBER_ID", err, resp.Error())
	}

	listed, err := adm.ListGroups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := listed.Groups(); !slices.Equal(got, []string{"batch", "live"}) {
		t.Fatalf("ListGroups: %v", got)
	}
	if listed["live"].State != "Stable" || listed["batch"].State != "Empty" {
		t.Fatalf("ListGroups states: %+v", listed)
	}
	if empty, err := adm.ListGroups(ctx, "Empty"); err != nil || !slices.Equal(empty.Groups(), []string{"batch"}) {
		t.Fatalf("ListGroups(Empty): %v %v", empty.Groups(), err)
	}

	described, err := adm.DescribeGroups(ctx, "live", "batch")
	if err != nil {
		t.Fatal(err)
	}
	d := described["live"]
	if d.Err != nil || d.State != "Stable" || d.ProtocolType != "consumer" || len(d.Members) != 1 {
		t.Fatalf("describe live: %+v", d)
	}
	m := d.Members[0]
	if m.ClientHost == "" {
		t.Errorf("describe live: no client host")
	}
	if m.ClientID != "admin-test" {
		t.Errorf("describe live: client id %q, want the member's %q", m.ClientID, "admin-test")
	}
	if got := d.AssignedPartitions().Sorted(); len(got) != 1 || !slices.Equal(got[0].Partitions, []int32{0, 1}) {
		t.Fatalf("describe live assignment: %+v", got)
	}
	if join, ok := m.Join.AsConsumer(); !ok || !slices.Equal(join.Topics, []string{"events"}) {
		t.Fatalf("describe live subscription: %+v", m.Join)
	}
	if b := described["batch"]; b.Err != nil || b.State != "Empty" || len(b.Members) != 0 {
		t.Fatalf("describe batch: %+v", b)
	}

	// Non-empty groups cannot be deleted, and their subscribed offsets cannot be dropped.
	del, err := adm.DeleteGroups(ctx, "live")
	if err != nil || !errors.Is(del["live"].Err, kerr.NonEmptyGroup) {
		t.Fatalf("DeleteGroups(live): %+v %v, want NON_EMPTY_GROUP", del, err)
	}
	od, err := adm.DeleteOffsets(ctx, "live", kadm.TopicsSet{"events": {0: {}}})
	if err != nil {
		t.Fatal(err)
	}
	if perr, _ := od.Lookup("events", 0); !errors.Is(perr, kerr.GroupSubscribedToTopic) {
		t.Fatalf("DeleteOffsets(live events/0): %v, want GROUP_SUBSCRIBED_TO_TOPIC", perr)
	}

	// An empty group's offsets can be deleted one partition at a time, then the group itself.
	od, err = adm.DeleteOffsets(ctx, "batch", kadm.TopicsSet{"audit": {0: {}}})
	if err != nil || od.Error() != nil {
		t.Fatalf("DeleteOffsets(batch audit/0): %v %v", err, od.Error())
	}
	left, err := adm.FetchOffsets(ctx, "batch")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := left.Lookup("audit", 0); ok {
		t.Fatalf("audit/0 still committed after DeleteOffsets: %+v", left)
	}
	if o, ok := left.Lookup("events", 1); !ok || o.At != 1 {
		t.Fatalf("events/1 lost by DeleteOffsets of another partition: %+v", left)
	}
	del, err = adm.DeleteGroups(ctx, "batch", "never-existed")
	if err != nil || del["batch"].Err != nil || !errors.Is(del["never-existed"].Err, kerr.GroupIDNotFound) {
		t.Fatalf("DeleteGroups(batch, never-existed): %+v %v", del, err)
	}

	// Once the live consumer leaves, its group can go too.
	live.close()
	eventually(t, "live group empty", func() bool {
		d, err := adm.DescribeGroups(ctx, "live")
		return err == nil && d["live"].State == "Empty"
	})
	if del, err := adm.DeleteGroups(ctx, "live"); err != nil || del["live"].Err != nil {
		t.Fatalf("DeleteGroups(live) after leave: %+v %v", del, err)
	}
	if listed, err := adm.ListGroups(ctx); err != nil || len(listed) != 0 {
		t.Fatalf("groups after deleting all: %v %v", listed.Groups(), err)
	}
}

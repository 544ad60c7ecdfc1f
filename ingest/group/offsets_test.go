package group

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-log/strata/metadata"
)

func commitReq(version int16, group string, gen int32, member, topic string, partition int32, offset int64) *kmsg.OffsetCommitRequest {
	r := kmsg.NewPtrOffsetCommitRequest()
	r.Version, r.Group, r.Generation, r.MemberID = version, group, gen, member
	p := kmsg.NewOffsetCommitRequestTopicPartition()
	p.Partition, p.Offset, p.LeaderEpoch, p.Metadata = partition, offset, 3, kmsg.StringPtr("meta")
	r.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: topic, Partitions: []kmsg.OffsetCommitRequestTopicPartition{p}}}
	return r
}

func commitCode(t *testing.T, r *kmsg.OffsetCommitResponse) int16 {
	t.Helper()
	if len(r.Topics) != 1 || len(r.Topics[0].Partitions) != 1 {
		t.Fatalf("commit response shape: %+v", r)
	}
	return r.Topics[0].Partitions[0].ErrorCode
}

func TestOffsetCommitFetch(t *testing.T) {
	forEachStore(t, func(t *testing.T, store metadata.Store) {
		ctx := context.Background()
		createTopic(t, store, "t", 3)
		c := newTestCoordinator(t, store, nil)

		tests := []struct {
			name string
			req  *kmsg.OffsetCommitRequest
			want int16
		}{
			{"simple consumer v0", commitReq(0, "simple", 99, "ignored-in-v0", "t", 0, 10), 0},
			{"simple consumer v8", commitReq(8, "simple", -1, "", "t", 1, 11), 0},
			{"unknown topic", commitReq(8, "simple", -1, "", "nope", 0, 1), kerr.UnknownTopicOrPartition.Code},
			{"partition out of range", commitReq(8, "simple", -1, "", "t", 3, 1), kerr.UnknownTopicOrPartition.Code},
			{"member of an unknown group v8", commitReq(8, "simple", 4, "m-1", "t", 0, 1), kerr.IllegalGeneration.Code},
			{"member of an unknown group v9", commitReq(9, "simple", 4, "m-1", "t", 0, 1), kerr.GroupIDNotFound.Code},
			{"empty group id", commitReq(8, "", -1, "", "t", 0, 1), kerr.InvalidGroupID.Code},
		}
		for _, tc := range tests {
			if got := commitCode(t, c.OffsetCommit(ctx, tc.req)); got != tc.want {
				t.Errorf("%s: %v, want %v", tc.name, kerr.ErrorForCode(got), kerr.ErrorForCode(tc.want))
			}
		}
		big := commitReq(8, "simple", -1, "", "t", 2, 1)
		big.Topics[0].Partitions[0].Metadata = kmsg.StringPtr(string(make([]byte, DefaultOffsetMetadataMaxBytes+1)))
		if got := commitCode(t, c.OffsetCommit(ctx, big)); got != kerr.OffsetMetadataTooLarge.Code {
			t.Errorf("large metadata: %v", kerr.ErrorForCode(got))
		}

		// v1: one group, listed partitions; -1 where nothing is committed.
		f := c.OffsetFetch(ctx, &kmsg.OffsetFetchRequest{Version: 1, Group: "simple",
			Topics: []kmsg.OffsetFetchRequestTopic{{Topic: "t", Partitions: []int32{0, 1, 2}}}})
		var offs []int64
		for _, p := range f.Topics[0].Partitions {
			offs = append(offs, p.Offset)
		}
		if !slices.Equal(offs, []int64{10, 11, -1}) {
			t.Fatalf("fetch v1 offsets %v, want [10 11 -1]", offs)
		}
		if p := f.Topics[0].Partitions[1]; *p.Metadata != "meta" {
			t.Fatalf("fetch v1 metadata %q", *p.Metadata)
		}
		// v8: batched groups; a null topic list means everything committed.
		f = c.OffsetFetch(ctx, &kmsg.OffsetFetchRequest{Version: 8, Groups: []kmsg.OffsetFetchRequestGroup{
			{Group: "simple"}, {Group: "never-committed"}, {Group: ""}}})
		if len(f.Groups) != 3 || len(f.Groups[0].Topics) != 1 || len(f.Groups[0].Topics[0].Partitions) != 2 {
			t.Fatalf("fetch v8 all: %+v", f.Groups)
		}
		if p := f.Groups[0].Topics[0].Partitions[1]; p.Partition != 1 || p.Offset != 11 || p.LeaderEpoch != 3 {
			t.Fatalf("fetch v8 partition: %+v", p)
		}
		if g := f.Groups[1]; g.ErrorCode != 0 || len(g.Topics) != 0 {
			t.Fatalf("fetch v8 of a group without commits: %+v", g)
		}
		if f.Groups[2].ErrorCode != kerr.InvalidGroupID.Code {
			t.Fatalf("fetch v8 of an empty group id: %+v", f.Groups[2])
		}

		// Offsets live in the store: a new coordinator (restart, or another node) sees them.
		_ = c.Close()
		c2 := newTestCoordinator(t, store, nil)
		got, err := c2.Committed(ctx, "simple")
		if err != nil {
			t.Fatal(err)
		}
		want := map[metadata.TopicPartition]int64{{Topic: "t", Partition: 0}: 10, {Topic: "t", Partition: 1}: 11}
		if len(got) != len(want) || got[metadata.TopicPartition{Topic: "t"}] != 10 || got[metadata.TopicPartition{Topic: "t", Partition: 1}] != 11 {
			t.Fatalf("Committed after restart: %v, want %v", got, want)
		}
	})
}

func TestOffsetCommitByMembers(t *testing.T) {
	forEachStore(t, func(t *testing.T, store metadata.Store) {
		ctx := context.Background()
		createTopic(t, store, "t", 1)
		c := newTestCoordinator(t, store, nil)
		r := join(t, c, "g", 10*time.Second, "t")
		if r.ErrorCode != 0 {
			t.Fatalf("join: %d", r.ErrorCode)
		}
		// CompletingRebalance: no commits until the assignment is known.
		if got := commitCode(t, c.OffsetCommit(ctx, commitReq(8, "g", r.Generation, r.MemberID, "t", 0, 5))); got != kerr.RebalanceInProgress.Code {
			t.Fatalf("commit before sync: %v", kerr.ErrorForCode(got))
		}
		syncAll(t, c, "g", []*kmsg.JoinGroupResponse{r})
		tests := []struct {
			name   string
			gen    int32
			member string
			want   int16
		}{
			{"member", r.Generation, r.MemberID, 0},
			{"stale generation", r.Generation - 1, r.MemberID, kerr.IllegalGeneration.Code},
			{"unknown member", r.Generation, "stranger", kerr.UnknownMemberID.Code},
			{"simple consumer while the group has members", -1, "", kerr.UnknownMemberID.Code},
		}
		for _, tc := range tests {
			if got := commitCode(t, c.OffsetCommit(ctx, commitReq(8, "g", tc.gen, tc.member, "t", 0, 7))); got != tc.want {
				t.Errorf("%s: %v, want %v", tc.name, kerr.ErrorForCode(got), kerr.ErrorForCode(tc.want))
			}
		}
		got, err := c.Committed(ctx, "g")
		if err != nil || got[metadata.TopicPartition{Topic: "t"}] != 7 {
			t.Fatalf("Committed: %v %v, want t/0 at 7", got, err)
		}
	})
}

func TestGroupAdmin(t *testing.T) {
	forEachStore(t, func(t *testing.T, store metadata.Store) {
		ctx := context.Background()
		createTopic(t, store, "sub", 2)
		createTopic(t, store, "other", 1)
		c := newTestCoordinator(t, store, nil)

		// "live" has a member subscribed to "sub"; "offsets-only" exists only in the store.
		r := join(t, c, "live", 10*time.Second, "sub")
		syncAll(t, c, "live", []*kmsg.JoinGroupResponse{r})
		for _, tp := range []struct {
			topic string
			p     int32
		}{{"sub", 0}, {"sub", 1}, {"other", 0}} {
			if code := commitCode(t, c.OffsetCommit(ctx, commitReq(8, "live", r.Generation, r.MemberID, tp.topic, tp.p, 1))); code != 0 {
				t.Fatalf("commit: %v", kerr.ErrorForCode(code))
			}
		}
		if code := commitCode(t, c.OffsetCommit(ctx, commitReq(8, "offsets-only", -1, "", "other", 0, 1))); code != 0 {
			t.Fatalf("commit: %v", kerr.ErrorForCode(code))
		}

		l := c.ListGroups(ctx, &kmsg.ListGroupsRequest{Version: 5})
		var listed []string
		for _, g := range l.Groups {
			listed = append(listed, g.Group+"/"+g.GroupState+"/"+g.ProtocolType)
		}
		if !slices.Equal(listed, []string{"live/Stable/consumer", "offsets-only/Empty/"}) {
			t.Fatalf("ListGroups: %v", listed)
		}
		l = c.ListGroups(ctx, &kmsg.ListGroupsRequest{Version: 4, StatesFilter: []string{"empty"}})
		if len(l.Groups) != 1 || l.Groups[0].Group != "offsets-only" {
			t.Fatalf("ListGroups state filter: %+v", l.Groups)
		}
		if l = c.ListGroups(ctx, &kmsg.ListGroupsRequest{Version: 5, TypesFilter: []string{"consumer"}}); len(l.Groups) != 0 {
			t.Fatalf("ListGroups type filter: %+v", l.Groups)
		}

		d := c.DescribeGroups(ctx, &kmsg.DescribeGroupsRequest{Version: 6, Groups: []string{"offsets-only", "unknown", "live"}})
		if g := d.Groups[0]; g.State != "Empty" || g.ErrorCode != 0 {
			t.Fatalf("describe offsets-only: %+v", g)
		}
		if g := d.Groups[1]; g.State != "Dead" || g.ErrorCode != kerr.GroupIDNotFound.Code {
			t.Fatalf("describe unknown v6: %+v", g)
		}
		if g := d.Groups[2]; g.State != "Stable" || len(g.Members) != 1 {
			t.Fatalf("describe live: %+v", g)
		}

		// OffsetDelete: subscribed topics are protected while the group has members.
		od := c.OffsetDelete(ctx, &kmsg.OffsetDeleteRequest{Group: "live", Topics: []kmsg.OffsetDeleteRequestTopic{
			{Topic: "sub", Partitions: []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 0}}},
			{Topic: "other", Partitions: []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 0}}},
		}})
		if od.ErrorCode != 0 || od.Topics[0].Partitions[0].ErrorCode != kerr.GroupSubscribedToTopic.Code || od.Topics[1].Partitions[0].ErrorCode != 0 {
			t.Fatalf("OffsetDelete: %+v", od)
		}
		got, _ := c.Committed(ctx, "live")
		if _, ok := got[metadata.TopicPartition{Topic: "other"}]; ok || len(got) != 2 {
			t.Fatalf("after OffsetDelete: %v", got)
		}
		if od := c.OffsetDelete(ctx, &kmsg.OffsetDeleteRequest{Group: "nobody"}); od.ErrorCode != kerr.GroupIDNotFound.Code {
			t.Fatalf("OffsetDelete of an unknown group: %v", kerr.ErrorForCode(od.ErrorCode))
		}

		// DeleteGroups: only empty groups.
		del := c.DeleteGroups(ctx, &kmsg.DeleteGroupsRequest{Version: 3, Groups: []string{"live", "offsets-only", "unknown"}})
		want := []int16{kerr.NonEmptyGroup.Code, 0, kerr.GroupIDNotFound.Code}
		for i, g := range del.Groups {
			if g.ErrorCode != want[i] {
				t.Errorf("DeleteGroups %s: %v, want %v", g.Group, kerr.ErrorForCode(g.ErrorCode), kerr.ErrorForCode(want[i]))
			}
		}
		lr := c.LeaveGroup(ctx, &kmsg.LeaveGroupRequest{Version: 2, Group: "live", MemberID: r.MemberID})
		if lr.ErrorCode != 0 {
			t.Fatalf("leave v2: %v", kerr.ErrorForCode(lr.ErrorCode))
		}
		waitFor(t, func() bool {
			d := c.DescribeGroups(ctx, &kmsg.DescribeGroupsRequest{Groups: []string{"live"}})
			return d.Groups[0].State == "Empty"
		})
		del = c.DeleteGroups(ctx, &kmsg.DeleteGroupsRequest{Version: 2, Groups: []string{"live"}})
		if del.Groups[0].ErrorCode != 0 {
			t.Fatalf("DeleteGroups after leave: %v", kerr.ErrorForCode(del.Groups[0].ErrorCode))
		}
		if l := c.ListGroups(ctx, &kmsg.ListGroupsRequest{}); len(l.Groups) != 0 {
			t.Fatalf("groups left after deleting all: %+v", l.Groups)
		}
		if got, _ := c.Committed(ctx, "live"); len(got) != 0 {
			t.Fatalf("offsets left after DeleteGroups: %v", got)
		}
	})
}

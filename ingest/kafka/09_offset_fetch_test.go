package kafka

import (
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestGroupAPIsEveryVersion sends every advertised version of each group API over the wire and
// checks that the answer decodes in that version's shape and says what it should.
func TestGroupAPIsEveryVersion(t *testing.T) {
	n := startNode(t, nodeOpts{})
	n.createTopic(t, "t", 2, nil)
	rc := n.raw(t)
	md := kmsg.NewPtrMetadataRequest()
	md.Version = 12
	md.Topics = []kmsg.MetadataRequestTopic{{Topic: kmsg.StringPtr("t")}}
	tid := rc.roundTrip(md).(*kmsg.MetadataResponse).Topics[0].TopicID

	for v := int16(0); v <= 10; v++ {
		t.Run(fmt.Sprintf("OffsetCommit+Fetch v%d", v), func(t *testing.T) {
			group := fmt.Sprintf("simple-%d", v)
			c := kmsg.NewPtrOffsetCommitRequest()
			c.Version, c.Group, c.Generation = v, group, -1
			p := kmsg.NewOffsetCommitRequestTopicPartition()
			p.Partition, p.Offset, p.Metadata = 1, 40+int64(v), kmsg.StringPtr("m")
			c.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: "t", TopicID: tid, Partitions: []kmsg.OffsetCommitRequestTopicPartition{p}}}
			if v >= 10 { // and a topic ID that names no topic
				c.Topics = append(c.Topics, kmsg.OffsetCommitRequestTopic{TopicID: [16]byte{9}, Partitions: []kmsg.OffsetCommitRequestTopicPartition{p}})
			}
			cr := rc.roundTrip(c).(*kmsg.OffsetCommitResponse)
			if len(cr.Topics) != len(c.Topics) || cr.Topics[0].Partitions[0].ErrorCode != 0 {
				t.Fatalf("commit: %+v", cr)
			}
			if v >= 10 && (cr.Topics[0].TopicID != tid || cr.Topics[1].Partitions[0].ErrorCode != kerr.UnknownTopicID.Code) {
				t.Fatalf("commit by topic ID: %+v; want the topic's ID, then UNKNOWN_TOPIC_ID", cr.Topics)
			}

			f := kmsg.NewPtrOffsetFetchRequest()
			f.Version = v
			var got int64 = -2
			if v >= 8 {
				g := kmsg.NewOffsetFetchRequestGroup()
				g.Group = group
				g.Topics = []kmsg.OffsetFetchRequestGroupTopic{{Topic: "t", TopicID: tid, Partitions: []int32{0, 1}}}
				all := kmsg.NewOffsetFetchRequestGroup()
				all.Group = group // every topic committed
				f.Groups = []kmsg.OffsetFetchRequestGroup{g, all}
				fr := rc.roundTrip(f).(*kmsg.OffsetFetchResponse)
				if len(fr.Groups) != 2 || fr.Groups[0].ErrorCode != 0 || len(fr.Groups[0].Topics[0].Partitions) != 2 {
					t.Fatalf("fetch: %+v", fr)
				}
				if a := fr.Groups[1]; len(a.Topics) != 1 || len(a.Topics[0].Partitions) != 1 || a.Topics[0].Partitions[0].Offset != 40+int64(v) {
					t.Fatalf("fetch of every topic: %+v", a)
				}
				if v >= 10 && (fr.Groups[0].Topics[0].TopicID != tid || fr.Groups[1].Topics[0].TopicID != tid) {
					t.Fatalf("fetch by topic ID: %+v; want the topic's ID", fr.Groups)
				}
				ps := fr.Groups[0].Topics[0].Partitions
				if ps[0].Offset != -1 {
					t.Fatalf("uncommitted partition offset %d, want -1", ps[0].Offset)
				}
				got = ps[1].Offset
			} else {
				f.Group = group
				f.Topics = []kmsg.OffsetFetchRequestTopic{{Topic: "t", Partitions: []int32{0, 1}}}
				fr := rc.roundTrip(f).(*kmsg.OffsetFetchResponse)
				if fr.ErrorCode != 0 || len(fr.Topics) != 1 || len(fr.Topics[0].Partitions) != 2 {
					t.Fatalf("fetch: %+v", fr)
				}
				if fr.Topics[0].Partitions[0].Offset != -1 {
					t.Fatalf("uncommitted partition offset %d, want -1", fr.Topics[0].Partitions[0].Offset)
				}
				got = fr.Topics[0].Partitions[1].Offset
			}
			if got != 40+int64(v) {
				t.Fatalf("fetched offset %d, want %d", got, 40+v)
			}
		})
	}
	for v := int16(0); v <= 9; v++ {
		t.Run(fmt.Sprintf("JoinGroup v%d", v), func(t *testing.T) {
			j := kmsg.NewPtrJoinGroupRequest()
			j.Version, j.Group, j.SessionTimeoutMillis, j.RebalanceTimeoutMillis = v, "g", 1, 1000
			j.ProtocolType = "consumer"
			j.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: []byte{0}}}
			r := rc.roundTrip(j).(*kmsg.JoinGroupResponse)
			if r.ErrorCode != kerr.InvalidSessionTimeout.Code {
				t.Fatalf("join with a 1ms session: %v", kerr.ErrorForCode(r.ErrorCode))
			}
		})
	}
	for v := int16(0); v <= 5; v++ {
		t.Run(fmt.Sprintf("SyncGroup+LeaveGroup v%d", v), func(t *testing.T) {
			s := kmsg.NewPtrSyncGroupRequest()
			s.Version, s.Group, s.MemberID, s.Generation = v, "g", "nobody", 1
			if r := rc.roundTrip(s).(*kmsg.SyncGroupResponse); r.ErrorCode != kerr.UnknownMemberID.Code {
				t.Fatalf("sync: %v", kerr.ErrorForCode(r.ErrorCode))
			}
			l := kmsg.NewPtrLeaveGroupRequest()
			l.Version, l.Group, l.MemberID = v, "g", "nobody"
			l.Members = []kmsg.LeaveGroupRequestMember{{MemberID: "nobody"}}
			r := rc.roundTrip(l).(*kmsg.LeaveGroupResponse)
			code := r.ErrorCode
			if v >= 3 {
				if len(r.Members) != 1 {
					t.Fatalf("leave v%d: %d members in the answer", v, len(r.Members))
				}
				code = r.Members[0].ErrorCode
			}
			if code != kerr.UnknownMemberID.Code {
				t.Fatalf("leave: %v", kerr.ErrorForCode(code))
			}
		})
	}
	for v := int16(0); v <= 4; v++ {
		t.Run(fmt.Sprintf("Heartbeat v%d", v), func(t *testing.T) {
			h := kmsg.NewPtrHeartbeatRequest()
			h.Version, h.Group, h.MemberID, h.Generation = v, "g", "nobody", 1
			if r := rc.roundTrip(h).(*kmsg.HeartbeatResponse); r.ErrorCode != kerr.UnknownMemberID.Code {
				t.Fatalf("heartbeat: %v", kerr.ErrorForCode(r.ErrorCode))
			}
		})
	}
	for v := int16(0); v <= 6; v++ {
		t.Run(fmt.Sprintf("DescribeGroups v%d", v), func(t *testing.T) {
			d := kmsg.NewPtrDescribeGroupsRequest()
			d.Version, d.Groups = v, []string{"simple-3", "nope"}
			r := rc.roundTrip(d).(*kmsg.DescribeGroupsResponse)
			if len(r.Groups) != 2 || r.Groups[0].State != "Empty" || r.Groups[1].State != "Dead" {
				t.Fatalf("describe: %+v", r.Groups)
			}
			want := int16(0)
			if v >= 6 {
				want = kerr.GroupIDNotFound.Code
			}
			if r.Groups[1].ErrorCode != want {
				t.Fatalf("describe unknown group: %v, want %v", kerr.ErrorForCode(r.Groups[1].ErrorCode), kerr.ErrorForCode(want))
			}
		})
	}
	for v := int16(0); v <= 5; v++ {
		t.Run(fmt.Sprintf("ListGroups v%d", v), func(t *testing.T) {
			l := kmsg.NewPtrListGroupsRequest()
			l.Version = v
			r := rc.roundTrip(l).(*kmsg.ListGroupsResponse)
			if r.ErrorCode != 0 || len(r.Groups) < 10 {
				t.Fatalf("list: %v, %d groups", kerr.ErrorForCode(r.ErrorCode), len(r.Groups))
			}
		})
	}
	for v := int16(0); v <= 3; v++ {
		t.Run(fmt.Sprintf("DeleteGroups v%d", v), func(t *testing.T) {
			d := kmsg.NewPtrDeleteGroupsRequest()
			d.Version, d.Groups = v, []string{fmt.Sprintf("simple-%d", v), "nope"}
			r := rc.roundTrip(d).(*kmsg.DeleteGroupsResponse)
			if len(r.Groups) != 2 || r.Groups[0].ErrorCode != 0 || r.Groups[1].ErrorCode != kerr.GroupIDNotFound.Code {
				t.Fatalf("delete: %+v", r.Groups)
			}
		})
	}
	t.Run("OffsetDelete v0", func(t *testing.T) {
		d := kmsg.NewPtrOffsetDeleteRequest()
		d.Group = "simple-9"
		d.Topics = []kmsg.OffsetDeleteRequestTopic{{Topic: "t", Partitions: []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 1}}}}
		r := rc.roundTrip(d).(*kmsg.OffsetDeleteResponse)
		if r.ErrorCode != 0 || len(r.Topics) != 1 || r.Topics[0].Partitions[0].ErrorCode != 0 {
			t.Fatalf("offset delete: %+v", r)
		}
	})
}

// TestGroupLifecycleV0 runs a whole group generation with the oldest versions, as a pre-KIP-394
// client would: no MEMBER_ID_REQUIRED round trip, session timeout doubling as rebalance timeout.
func TestGroupLifecycleV0(t *testing.T) {
	n := startNode(t, nodeOpts{})
	n.createTopic(t, "t", 1, nil)
	rc := n.raw(t)

	j := kmsg.NewPtrJoinGroupRequest()
	j.Version, j.Group, j.SessionTimeoutMillis, j.ProtocolType = 0, "old", 10_000, "consumer"
	j.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: []byte("x")}}
	jr := rc.roundTrip(j).(*kmsg.JoinGroupResponse)
	if jr.ErrorCode != 0 || jr.MemberID == "" || jr.LeaderID != jr.MemberID || len(jr.Members) != 1 || jr.Generation != 1 || *jr.Protocol != "range" {
		t.Fatalf("join v0: %+v", jr)
	}
	s := kmsg.NewPtrSyncGroupRequest()
	s.Version, s.Group, s.MemberID, s.Generation = 0, "old", jr.MemberID, jr.Generation
	s.GroupAssignment = []kmsg.SyncGroupRequestGroupAssignment{{MemberID: jr.MemberID, MemberAssignment: []byte("mine")}}
	if sr := rc.roundTrip(s).(*kmsg.SyncGroupResponse); sr.ErrorCode != 0 || string(sr.MemberAssignment) != "mine" {
		t.Fatalf("sync v0: %+v", sr)
	}
	h := kmsg.NewPtrHeartbeatRequest()
	h.Version, h.Group, h.MemberID, h.Generation = 0, "old", jr.MemberID, jr.Generation
	if hr := rc.roundTrip(h).(*kmsg.HeartbeatResponse); hr.ErrorCode != 0 {
		t.Fatalf("heartbeat v0: %v", kerr.ErrorForCode(hr.ErrorCode))
	}
	c := kmsg.NewPtrOffsetCommitRequest()
	c.Version, c.Group, c.MemberID, c.Generation = 1, "old", jr.MemberID, jr.Generation
	p := kmsg.NewOffsetCommitRequestTopicPartition()
	p.Offset = 12
	c.Topics = []kmsg.OffsetCommitRequestTopic{{Topic: "t", Partitions: []kmsg.OffsetCommitRequestTopicPartition{p}}}
	if cr := rc.roundTrip(c).(*kmsg.OffsetCommitResponse); cr.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("commit v1: %v", kerr.ErrorForCode(cr.Topics[0].Partitions[0].ErrorCode))
	}
	l := kmsg.NewPtrLeaveGroupRequest()
	l.Version, l.Group, l.MemberID = 0, "old", jr.MemberID
	if lr := rc.roundTrip(l).(*kmsg.LeaveGroupResponse); lr.ErrorCode != 0 {
		t.Fatalf("leave v0: %v", kerr.ErrorForCode(lr.ErrorCode))
	}
	f := kmsg.NewPtrOffsetFetchRequest()
	f.Version, f.Group = 0, "old"
	f.Topics = []kmsg.OffsetFetchRequestTopic{{Topic: "t", Partitions: []int32{0}}}
	if fr := rc.roundTrip(f).(*kmsg.OffsetFetchResponse); fr.Topics[0].Partitions[0].Offset != 12 {
		t.Fatalf("fetch v0 after leave: %+v", fr.Topics)
	}
}

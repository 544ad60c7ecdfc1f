package kafka

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-log/strata/ingest/acl"
	"github.com/strata-log/strata/metadata"
)

// Share groups need READ on the group (heartbeat, fetch, acknowledge) and DESCRIBE on subscribed
// topics, READ on fetched ones, as Kafka.
func TestAuthorizeShareGroups(t *testing.T) {
	const anon = acl.Anonymous
	n := aclNode(t, nil, nil,
		allowACL(anon, metadata.ResourceCluster, metadata.ClusterResourceName, metadata.OpCreate),
		allowACL(anon, metadata.ResourceTopic, "open", metadata.OpAll),
		allowACL(anon, metadata.ResourceTopic, "closed", metadata.OpCreate),
		allowACL(anon, metadata.ResourceGroup, "mine", metadata.OpRead))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	adm := kadm.NewClient(n.client(t))
	ids := map[string][16]byte{}
	for _, topic := range []string{"open", "closed"} {
		resp, err := adm.CreateTopic(ctx, 1, 1, nil, topic)
		if err != nil {
			t.Fatal(err)
		}
		ids[topic] = resp.ID
	}
	r := n.raw(t)
	beat := func(group string, topics ...string) *kmsg.ShareGroupHeartbeatResponse {
		req := kmsg.NewPtrShareGroupHeartbeatRequest()
		req.SetVersion(1)
		req.GroupID, req.MemberID, req.SubscribedTopicNames = group, "m", topics
		return r.roundTrip(req).(*kmsg.ShareGroupHeartbeatResponse)
	}
	if got := beat("theirs", "open"); got.ErrorCode != kerr.GroupAuthorizationFailed.Code {
		t.Fatalf("heartbeat to a group without READ: %v", kerr.ErrorForCode(got.ErrorCode))
	}
	if got := beat("mine", "open", "closed"); got.ErrorCode != kerr.TopicAuthorizationFailed.Code ||
		got.ErrorMessage == nil || !strings.Contains(*got.ErrorMessage, "closed") {
		t.Fatalf("heartbeat subscribing to a topic without DESCRIBE: %v %v", kerr.ErrorForCode(got.ErrorCode), got.ErrorMessage)
	}
	got := beat("mine", "open")
	if got.ErrorCode != 0 || got.MemberEpoch < 1 || got.Assignment == nil || len(got.Assignment.TopicPartitions) != 1 ||
		got.Assignment.TopicPartitions[0].TopicID != ids["open"] {
		t.Fatalf("allowed heartbeat: %v, epoch %d, assignment %+v", kerr.ErrorForCode(got.ErrorCode), got.MemberEpoch, got.Assignment)
	}

	fetch := func(group, topic string) *kmsg.ShareFetchResponse {
		req := kmsg.NewPtrShareFetchRequest()
		req.SetVersion(2)
		member := "m"
		req.GroupID, req.MemberID = &group, &member
		rt := kmsg.NewShareFetchRequestTopic()
		rt.TopicID = ids[topic]
		rt.Partitions = []kmsg.ShareFetchRequestTopicPartition{{Partition: 0, PartitionMaxBytes: 1 << 20}}
		req.Topics = append(req.Topics, rt)
		return r.roundTrip(req).(*kmsg.ShareFetchResponse)
	}
	if got := fetch("theirs", "open"); got.ErrorCode != kerr.GroupAuthorizationFailed.Code {
		t.Fatalf("share fetch for a group without READ: %v", kerr.ErrorForCode(got.ErrorCode))
	}
	if got := fetch("mine", "closed"); got.ErrorCode != 0 || got.Topics[0].Partitions[0].ErrorCode != kerr.TopicAuthorizationFailed.Code {
		t.Fatalf("share fetch of a topic without READ: %v %+v", kerr.ErrorForCode(got.ErrorCode), got.Topics)
	}
	ack := kmsg.NewPtrShareAcknowledgeRequest()
	ack.SetVersion(2)
	group, member := "theirs", "m"
	ack.GroupID, ack.MemberID, ack.ShareSessionEpoch = &group, &member, 1
	if got := r.roundTrip(ack).(*kmsg.ShareAcknowledgeResponse); got.ErrorCode != kerr.GroupAuthorizationFailed.Code {
		t.Fatalf("share acknowledge for a group without READ: %v", kerr.ErrorForCode(got.ErrorCode))
	}
	d := kmsg.NewPtrShareGroupDescribeRequest()
	d.SetVersion(1)
	d.GroupIDs = []string{"mine", "theirs"}
	codes := map[string]int16{}
	for _, g := range r.roundTrip(d).(*kmsg.ShareGroupDescribeResponse).Groups {
		codes[g.GroupID] = g.ErrorCode
	}
	if len(codes) != 2 || codes["mine"] != 0 || codes["theirs"] != kerr.GroupAuthorizationFailed.Code {
		t.Fatalf("ShareGroupDescribe codes %v, want mine described and theirs GROUP_AUTHORIZATION_FAILED", codes)
	}
}

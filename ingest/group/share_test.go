package group

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-log/strata/metadata"
)

func shareBeat(c *Coordinator, group, member string, epoch int32, topics ...string) *kmsg.ShareGroupHeartbeatResponse {
	req := kmsg.NewPtrShareGroupHeartbeatRequest()
	req.GroupID, req.MemberID, req.MemberEpoch = group, member, epoch
	if epoch == 0 {
		req.SubscribedTopicNames = append([]string{}, topics...)
	}
	return c.ShareGroupHeartbeat(context.Background(), req)
}

// A share group's members join, heartbeat with their epoch and leave; a group id is one kind of
// group while it has members.
func TestShareGroupMembership(t *testing.T) {
	c := newTestCoordinator(t, storeFactories["memmeta"](t), nil)
	ctx := context.Background()

	a := shareBeat(c, "g", "a", 0, "t")
	if a.ErrorCode != 0 || a.MemberEpoch != 1 || a.Assignment == nil {
		t.Fatalf("join: %+v", a)
	}
	b := shareBeat(c, "g", "b", 0, "t")
	if b.ErrorCode != 0 || b.MemberEpoch != 2 {
		t.Fatalf("second join: %+v", b)
	}
	if r := shareBeat(c, "g", "a", 1); r.ErrorCode != 0 || r.MemberEpoch != 1 || r.Assignment != nil {
		t.Fatalf("heartbeat with an unchanged assignment: %+v", r)
	}
	if r := shareBeat(c, "g", "a", 7); r.ErrorCode != kerr.FencedMemberEpoch.Code {
		t.Fatalf("heartbeat with a wrong epoch: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	if r := shareBeat(c, "g", "zed", 3); r.ErrorCode != kerr.UnknownMemberID.Code {
		t.Fatalf("heartbeat of an unknown member: %v", kerr.ErrorForCode(r.ErrorCode))
	}

	// While it has members, the id is not a classic or consumer group's.
	if r := c.JoinGroup(ctx, joinReq("g", "", 10*time.Second, "t")); r.ErrorCode != kerr.InconsistentGroupProtocol.Code {
		t.Fatalf("classic join to a share group: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	cg := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	cg.Version = 1
	cg.Group, cg.MemberID, cg.RebalanceTimeoutMillis, cg.SubscribedTopicNames = "g", "c", 5000, []string{"t"}
	cg.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
	if r := c.ConsumerGroupHeartbeat(ctx, cg); r.ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("consumer heartbeat to a share group: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	lg := c.ListGroups(ctx, &kmsg.ListGroupsRequest{Version: 5})
	if len(lg.Groups) != 1 || lg.Groups[0].GroupType != "share" || lg.Groups[0].GroupState != "Stable" {
		t.Fatalf("list groups: %+v", lg.Groups)
	}
	if d := c.DeleteGroups(ctx, &kmsg.DeleteGroupsRequest{Version: 2, Groups: []string{"g"}}); d.Groups[0].ErrorCode != kerr.NonEmptyGroup.Code {
		t.Fatalf("delete a share group with members: %v", kerr.ErrorForCode(d.Groups[0].ErrorCode))
	}

	for _, m := range []string{"a", "b"} {
		if r := shareBeat(c, "g", m, -1); r.ErrorCode != 0 || r.MemberEpoch != -1 {
			t.Fatalf("leave %s: %+v", m, r)
		}
	}
	d := c.ShareGroupDescribe(ctx, &kmsg.ShareGroupDescribeRequest{GroupIDs: []string{"g", "nope"}})
	if d.Groups[0].ErrorCode != 0 || d.Groups[0].GroupState != "Empty" || len(d.Groups[0].Members) != 0 ||
		d.Groups[1].ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("describe: %+v", d.Groups)
	}
	// Empty, it may become a consumer group; then a share heartbeat is refused.
	if r := c.ConsumerGroupHeartbeat(ctx, cg); r.ErrorCode != 0 {
		t.Fatalf("consumer heartbeat to an empty share group: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	if r := shareBeat(c, "g", "a", 0, "t"); r.ErrorCode != kerr.GroupIDNotFound.Code {
		t.Fatalf("share join to a consumer group: %v", kerr.ErrorForCode(r.ErrorCode))
	}
}

func TestShareGroupConfigs(t *testing.T) {
	c := newTestCoordinator(t, storeFactories["memmeta"](t), nil)
	v := func(s string) *string { return &s }
	for _, bad := range []ShareConfigOp{
		{Name: "share.auto.offset.reset", Value: v("sometimes")},
		{Name: "share.record.lock.duration.ms", Value: v("10")},
		{Name: "share.isolation.level", Value: v("read_committed")},
		{Name: "no.such.config", Value: v("1")},
		{Name: "share.delivery.count.limit", Op: 2, Value: v("3")},
	} {
		if err := c.AlterShareGroupConfigs("g", []ShareConfigOp{bad}, false); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
	if err := c.AlterShareGroupConfigs("g", []ShareConfigOp{{Name: "share.record.lock.duration.ms", Value: v("1500")}}, false); err != nil {
		t.Fatal(err)
	}
	if got := c.ShareGroupConfig("g"); got.LockDuration.Milliseconds() != 1500 || got.DeliveryLimit != DefaultShareDeliveryLimit || got.AutoOffsetReset != "latest" {
		t.Fatalf("config %+v", got)
	}
	es := c.DescribeShareGroupConfigs("g", []string{"share.record.lock.duration.ms", "share.auto.offset.reset"})
	if len(es) != 2 || es[0] != (ShareConfigEntry{"share.auto.offset.reset", "latest", true}) ||
		es[1] != (ShareConfigEntry{"share.record.lock.duration.ms", "1500", false}) {
		t.Fatalf("describe %+v", es)
	}
	if err := c.AlterShareGroupConfigs("g", []ShareConfigOp{{Name: "share.record.lock.duration.ms", Op: 1}}, false); err != nil {
		t.Fatal(err)
	}
	if got := c.ShareGroupConfig("g"); got.LockDuration != DefaultShareLockDuration {
		t.Fatalf("after delete %+v", got)
	}
}

// The share partition driver's calls, as ShareFetch and ShareAcknowledge make them, and the
// metrics they count.
func TestShareDriverMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := newTestCoordinator(t, storeFactories["memmeta"](t), func(cfg *Config) { cfg.Registerer = reg })
	ctx := context.Background()
	tp := metadata.TopicPartition{Topic: "t"}
	if err := c.AlterShareGroupConfigs("g", []ShareConfigOp{{Name: "share.auto.offset.reset", Value: kmsg.StringPtr("earliest")}}, false); err != nil {
		t.Fatal(err)
	}
	earliest := func(context.Context) (int64, error) { return 0, nil }
	off, ok, err := c.ShareFetchOffset(ctx, "g", tp, 10, earliest)
	if err != nil || !ok || off != 0 {
		t.Fatalf("fetch offset %d %v %v", off, ok, err)
	}
	got := c.ShareAcquire("g", "m", tp, []BatchSpan{{First: 0, Last: 9}}, 10)
	if len(got) != 1 || got[0] != (AcquiredRange{0, 9, 1}) {
		t.Fatalf("acquired %v", got)
	}
	if code := c.ShareAcknowledge("g", "m", tp, 0, 2, []int8{AckAccept, AckRelease, AckReject}); code != 0 {
		t.Fatalf("ack: %v", kerr.ErrorForCode(code))
	}
	if code := c.ShareAcknowledge("g", "m", tp, 3, 9, []int8{AckAccept}); code != 0 {
		t.Fatalf("ack: %v", kerr.ErrorForCode(code))
	}
	if v := testutil.ToFloat64(c.met.shareAcquired); v != 10 {
		t.Errorf("acquired %v, want 10", v)
	}
	for typ, want := range map[string]float64{"accept": 8, "release": 1, "reject": 1} {
		if v := testutil.ToFloat64(c.met.shareAcks.WithLabelValues(typ)); v != want {
			t.Errorf("%s acknowledgements %v, want %v", typ, v, want)
		}
	}
	// Offset 1 was released: the next fetch starts there.
	if off, ok, _ := c.ShareFetchOffset(ctx, "g", tp, 10, earliest); !ok || off != 1 {
		t.Fatalf("fetch offset %d %v, want 1", off, ok)
	}
	// Everything below the high watermark is taken: nothing to fetch.
	c.ShareAcquire("g", "m", tp, []BatchSpan{{First: 1, Last: 1}}, 10)
	if _, ok, _ := c.ShareFetchOffset(ctx, "g", tp, 10, earliest); ok {
		t.Fatal("a fetch offset with every record taken")
	}
	c.ShareCloseSession("g", "m") // releases offset 1
	if off, ok, _ := c.ShareFetchOffset(ctx, "g", tp, 10, earliest); !ok || off != 1 {
		t.Fatalf("after the session closed: fetch offset %d %v, want 1", off, ok)
	}
}

// Share sessions are bounded: past the limit a new one is refused, an existing one may reopen.
func TestShareSessionLimit(t *testing.T) {
	c := newTestCoordinator(t, storeFactories["memmeta"](t), nil)
	for i := range shareMaxSessions {
		if _, code := c.ShareSession("g", "m"+strconv.Itoa(i), 0, nil, nil, false); code != 0 {
			t.Fatalf("session %d: %v", i, kerr.ErrorForCode(code))
		}
	}
	if _, code := c.ShareSession("g", "one-more", 0, nil, nil, false); code != kerr.ShareSessionLimitReached.Code {
		t.Fatalf("session past the limit: %v", kerr.ErrorForCode(code))
	}
	if _, code := c.ShareSession("g", "m0", 0, nil, nil, false); code != 0 {
		t.Fatalf("reopening a session: %v", kerr.ErrorForCode(code))
	}
	c.ShareCloseSession("g", "m1")
	if _, code := c.ShareSession("g", "one-more", 0, nil, nil, false); code != 0 {
		t.Fatalf("session after one closed: %v", kerr.ErrorForCode(code))
	}
}

package kafka

import (
	"context"
	"crypto/x509"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-log/strata/ingest/acl"
	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/metadata/memmeta"
)

// aclNode starts a node whose authorizer reads the ACLs of its own (in-memory) store, with acls
// stored first, and cfg applied to the server config.
func aclNode(t *testing.T, cfg func(*Config), superUsers []string, acls ...metadata.ACL) *testNode {
	t.Helper()
	st, err := memmeta.New(memmeta.Config{FirstProducerID: 1000})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ctx := context.Background()
	if len(acls) > 0 {
		if err := st.CreateACLs(ctx, acls); err != nil {
			t.Fatal(err)
		}
	}
	a, err := acl.New(ctx, acl.Config{Store: st, SuperUsers: superUsers})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return startNode(t, nodeOpts{store: st, serverCfg: func(c *Config) {
		c.Authorizer = a
		if cfg != nil {
			cfg(c)
		}
	}})
}

func allowACL(principal string, rt metadata.ResourceType, name string, op metadata.ACLOperation) metadata.ACL {
	return metadata.ACL{ResourceType: rt, ResourceName: name, PatternType: metadata.PatternLiteral, Principal: principal,
		Host: "*", Operation: op, Permission: metadata.PermissionAllow}
}

// The principal of an mTLS connection is its certificate's subject, as Kafka forms it.
func TestAuthorizeMTLSPrincipal(t *testing.T) {
	pki := newTestPKI(t)
	other, _, _ := pki.issue(t, 9, "intruder", x509.ExtKeyUsageClientAuth)
	const me = "User:CN=client"
	n := aclNode(t, func(c *Config) { c.TLS = pki.serverTLS(true) }, nil,
		allowACL(me, metadata.ResourceCluster, metadata.ClusterResourceName, metadata.OpCreate),
		allowACL(me, metadata.ResourceTopic, "certs", metadata.OpAll))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl := n.client(t, kgo.DialTLSConfig(pki.clientTLS(true)), kgo.DefaultProduceTopic("certs"))
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, "certs"); err != nil {
		t.Fatalf("create as %s: %v", me, err)
	}
	if err := cl.ProduceSync(ctx, kgo.StringRecord("v")).FirstErr(); err != nil {
		t.Fatalf("produce as %s: %v", me, err)
	}
	bad := pki.clientTLS(false)
	bad.Certificates = append(bad.Certificates, other)
	ocl := n.client(t, kgo.DialTLSConfig(bad), kgo.DefaultProduceTopic("certs"), kgo.DisableIdempotentWrite(),
		kgo.RetryTimeout(2*time.Second))
	if err := ocl.ProduceSync(ctx, kgo.StringRecord("v")).FirstErr(); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("produce as User:CN=intruder: %v, want TOPIC_AUTHORIZATION_FAILED", err)
	}
	td, err := kadm.NewClient(ocl).ListTopics(ctx)
	if err != nil || len(td.Names()) != 0 {
		t.Fatalf("User:CN=intruder lists topics %v (%v), want none", td.Names(), err)
	}
}

// Without an authorizer the ACL APIs answer SECURITY_DISABLED, as in Kafka.
func TestACLAPIsWithoutAuthorizer(t *testing.T) {
	n := startNode(t, nodeOpts{memStore: true})
	r := n.raw(t)
	d := kmsg.NewPtrDescribeACLsRequest()
	d.SetVersion(3)
	d.ResourceType, d.ResourcePatternType, d.Operation, d.PermissionType = 1, 1, 1, 1
	if got := r.roundTrip(d).(*kmsg.DescribeACLsResponse); got.ErrorCode != kerr.SecurityDisabled.Code {
		t.Fatalf("DescribeAcls: error %d, want SECURITY_DISABLED", got.ErrorCode)
	}
	c := kmsg.NewPtrCreateACLsRequest()
	c.SetVersion(3)
	c.Creations = []kmsg.CreateACLsRequestCreation{{ResourceType: 2, ResourceName: "t", ResourcePatternType: 3,
		Principal: "User:a", Host: "*", Operation: 3, PermissionType: 3}}
	if got := r.roundTrip(c).(*kmsg.CreateACLsResponse); len(got.Results) != 1 || got.Results[0].ErrorCode != kerr.SecurityDisabled.Code {
		t.Fatalf("CreateAcls: %+v, want SECURITY_DISABLED", got.Results)
	}
}

// Plaintext connections are User:ANONYMOUS. The answers that filter rather than refuse: a
// Metadata request by topic ID, OffsetFetch of all topics, ListGroups, DescribeGroups, and
// invalid ACLs in CreateAcls.
func TestAuthorizeAnonymousFilters(t *testing.T) {
	const anon = acl.Anonymous
	n := aclNode(t, nil, nil,
		allowACL(anon, metadata.ResourceCluster, metadata.ClusterResourceName, metadata.OpCreate),
		allowACL(anon, metadata.ResourceTopic, "seen", metadata.OpAll),
		allowACL(anon, metadata.ResourceGroup, "mine", metadata.OpAll),
		allowACL(anon, metadata.ResourceTopic, "hidden", metadata.OpCreate),
		allowACL(anon, metadata.ResourceTopic, "hidden", metadata.OpWrite))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl := n.client(t)
	adm := kadm.NewClient(cl)
	for _, topic := range []string{"seen", "hidden"} {
		if _, err := adm.CreateTopic(ctx, 1, 1, nil, topic); err != nil {
			t.Fatal(err)
		}
	}
	// WRITE implies DESCRIBE: hidden is listed. Take the WRITE away, then it is not.
	td, err := adm.ListTopics(ctx)
	if err != nil || !slices.Equal(td.Names(), []string{"hidden", "seen"}) {
		t.Fatalf("topics %v (%v), want hidden and seen", td.Names(), err)
	}
	hiddenID := td["hidden"].ID
	// Deleted in the store, as through another node: the watch applies it.
	w := allowACL(anon, metadata.ResourceTopic, "hidden", metadata.OpWrite)
	if del, err := n.store.DeleteACLs(ctx, metadata.ACLFilter{ResourceType: w.ResourceType, ResourceName: &w.ResourceName,
		PatternType: metadata.PatternLiteral, Operation: w.Operation, Permission: metadata.PermissionAny}); err != nil || len(del) != 1 {
		t.Fatalf("DeleteACLs: %v %v", del, err)
	}
	for {
		// Asked of the broker itself: the client may answer a repeated Metadata request from its cache.
		all, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl.Broker(1))
		if err != nil {
			t.Fatal(err)
		}
		if len(all.Topics) == 1 && *all.Topics[0].Topic == "seen" {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("Metadata of all topics still lists %d topics after the watch", len(all.Topics))
		}
		time.Sleep(5 * time.Millisecond)
	}
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.TopicID = hiddenID
	req.Topics = append(req.Topics, rt)
	mresp, err := req.RequestWith(ctx, cl.Broker(1))
	if err != nil || len(mresp.Topics) != 1 || mresp.Topics[0].ErrorCode != kerr.TopicAuthorizationFailed.Code || mresp.Topics[0].Topic != nil {
		t.Fatalf("Metadata by the hidden topic's ID: %+v %v", mresp, err)
	}

	// Authorized operations, when asked: ALL on seen is every topic operation; the cluster's
	// are CREATE alone.
	ops := kmsg.NewPtrMetadataRequest()
	ops.IncludeTopicAuthorizedOperations, ops.IncludeClusterAuthorizedOperations = true, true
	ot := kmsg.NewMetadataRequestTopic()
	ot.Topic = kmsg.StringPtr("seen")
	ops.Topics = append(ops.Topics, ot)
	ops.SetVersion(10) // the last version with the cluster's operations
	oresp := n.raw(t).roundTrip(ops).(*kmsg.MetadataResponse)
	var want int32
	for _, op := range topicOps {
		want |= 1 << op
	}
	if got := oresp.Topics[0].AuthorizedOperations; got != want {
		t.Errorf("seen's authorized operations %v, want %v", kadm.DecodeACLOperations(got), kadm.DecodeACLOperations(want))
	}
	if got := oresp.AuthorizedOperations; got != 1<<metadata.OpCreate {
		t.Errorf("the cluster's authorized operations %v, want [CREATE]", kadm.DecodeACLOperations(got))
	}

	// Commits in mine for both topics as a super user would have them: only seen comes back.
	if err := n.store.CommitOffsets(ctx, "mine", map[metadata.TopicPartition]metadata.OffsetCommit{
		{Topic: "seen", Partition: 0}: {Offset: 1}, {Topic: "hidden", Partition: 0}: {Offset: 2}}); err != nil {
		t.Fatal(err)
	}
	if err := n.store.CommitOffsets(ctx, "theirs", map[metadata.TopicPartition]metadata.OffsetCommit{{Topic: "seen", Partition: 0}: {Offset: 1}}); err != nil {
		t.Fatal(err)
	}
	offs, err := adm.FetchOffsets(ctx, "mine")
	if err != nil || offs.Error() != nil {
		t.Fatalf("FetchOffsets mine: %v %v", err, offs.Error())
	}
	if _, ok := offs.Lookup("hidden", 0); ok {
		t.Error("OffsetFetch of all topics shows a topic the principal may not describe")
	}
	if o, ok := offs.Lookup("seen", 0); !ok || o.At != 1 {
		t.Errorf("OffsetFetch of mine: seen/0 = %+v %v, want 1", o, ok)
	}
	lg, err := adm.ListGroups(ctx)
	if err != nil || !slices.Equal(lg.Groups(), []string{"mine"}) {
		t.Errorf("ListGroups = %v (%v), want only mine", lg.Groups(), err)
	}
	dg := kmsg.NewPtrDescribeGroupsRequest()
	dg.Groups = []string{"theirs"}
	dgr, err := dg.RequestWith(ctx, cl.Broker(1))
	if err != nil || len(dgr.Groups) != 1 || dgr.Groups[0].ErrorCode != kerr.GroupAuthorizationFailed.Code {
		t.Errorf("DescribeGroups theirs: %+v %v, want GROUP_AUTHORIZATION_FAILED", dgr, err)
	}

	// CreateAcls needs ALTER on the cluster.
	if err := n.store.CreateACLs(ctx, []metadata.ACL{allowACL(anon, metadata.ResourceCluster, metadata.ClusterResourceName, metadata.OpAlter)}); err != nil {
		t.Fatal(err)
	}
	c := kmsg.NewPtrCreateACLsRequest()
	c.Creations = []kmsg.CreateACLsRequestCreation{
		{ResourceType: 4, ResourceName: "not-the-cluster", ResourcePatternType: 3, Principal: "User:a", Host: "*", Operation: 3, PermissionType: 3},
		{ResourceType: 2, ResourceName: "t", ResourcePatternType: 3, Principal: "User:a", Host: "*", Operation: 3, PermissionType: 3},
	}
	cr, err := c.RequestWith(ctx, cl)
	for err == nil && len(cr.Results) == 2 && cr.Results[1].ErrorCode == kerr.ClusterAuthorizationFailed.Code && ctx.Err() == nil {
		time.Sleep(5 * time.Millisecond) // until the watch applies the ALTER
		cr, err = c.RequestWith(ctx, cl)
	}
	if err != nil || len(cr.Results) != 2 || cr.Results[0].ErrorCode != kerr.InvalidRequest.Code || cr.Results[1].ErrorCode != 0 {
		t.Fatalf("CreateAcls with one invalid ACL: %+v %v", cr, err)
	}
}

// KIP-848 groups: a heartbeat needs READ on the group and DESCRIBE on every topic it subscribes to
// by name; ConsumerGroupDescribe answers GROUP_AUTHORIZATION_FAILED for groups the principal may not
// DESCRIBE and describes the others.
func TestAuthorizeConsumerGroupProtocol(t *testing.T) {
	const anon = acl.Anonymous
	n := aclNode(t, nil, nil,
		allowACL(anon, metadata.ResourceCluster, metadata.ClusterResourceName, metadata.OpCreate),
		allowACL(anon, metadata.ResourceTopic, "open", metadata.OpAll),
		allowACL(anon, metadata.ResourceTopic, "closed", metadata.OpCreate),
		allowACL(anon, metadata.ResourceGroup, "mine", metadata.OpRead))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	adm := kadm.NewClient(n.client(t))
	for _, topic := range []string{"open", "closed"} {
		if _, err := adm.CreateTopic(ctx, 1, 1, nil, topic); err != nil {
			t.Fatal(err)
		}
	}
	r := n.raw(t)
	beat := func(group string, topics ...string) *kmsg.ConsumerGroupHeartbeatResponse {
		req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
		req.SetVersion(0)
		req.Group, req.MemberEpoch, req.RebalanceTimeoutMillis = group, 0, 30000
		req.SubscribedTopicNames = topics
		req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{} // owns nothing yet
		return r.roundTrip(req).(*kmsg.ConsumerGroupHeartbeatResponse)
	}
	if got := beat("theirs", "open"); got.ErrorCode != kerr.GroupAuthorizationFailed.Code {
		t.Fatalf("heartbeat to a group without READ: error %d, want GROUP_AUTHORIZATION_FAILED", got.ErrorCode)
	}
	if got := beat("mine", "open", "closed"); got.ErrorCode != kerr.TopicAuthorizationFailed.Code ||
		got.ErrorMessage == nil || !strings.Contains(*got.ErrorMessage, "closed") {
		t.Fatalf("heartbeat subscribing to a topic without DESCRIBE: error %d %v, want TOPIC_AUTHORIZATION_FAILED naming it", got.ErrorCode, got.ErrorMessage)
	}
	if got := beat("mine", "open"); got.ErrorCode != 0 || got.MemberEpoch < 1 {
		t.Fatalf("allowed heartbeat: error %d (%v), epoch %d", got.ErrorCode, got.ErrorMessage, got.MemberEpoch)
	}
	d := kmsg.NewPtrConsumerGroupDescribeRequest()
	d.SetVersion(0)
	d.Groups = []string{"mine", "theirs"}
	got := r.roundTrip(d).(*kmsg.ConsumerGroupDescribeResponse)
	codes := map[string]int16{}
	for _, g := range got.Groups {
		codes[g.Group] = g.ErrorCode
	}
	if len(codes) != 2 || codes["mine"] != 0 || codes["theirs"] != kerr.GroupAuthorizationFailed.Code {
		t.Fatalf("ConsumerGroupDescribe codes %v, want mine described and theirs GROUP_AUTHORIZATION_FAILED", codes)
	}
}

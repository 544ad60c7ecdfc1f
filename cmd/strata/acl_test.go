package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/strata-log/strata/tier/objstore/objstoretest"
)

// aclUsers are the SASL users of the ACL tests; each one's password is its name + "-pw".
var aclUsers = []string{"admin", "alice", "bob", "carol", "dave"}

func writeACLUsers(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	for _, u := range aclUsers {
		fmt.Fprintf(&b, "%s:%s-pw\n", u, u)
	}
	f := filepath.Join(dir, "acl-users")
	if err := os.WriteFile(f, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

// userClient is a franz-go client authenticated as user with SCRAM-SHA-256.
func userClient(t testing.TB, addr, user string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr),
		kgo.SASL(scram.Auth{User: user, Pass: user + "-pw"}.AsSha256Mechanism()),
		kgo.RetryTimeout(5 * time.Second)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func mustACLs(t *testing.T, what string, rs kadm.CreateACLsResults, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	for _, r := range rs {
		if r.Err != nil {
			t.Fatalf("%s: %s %v on %s: %v %s", what, r.Principal, r.Operation, r.Name, r.Err, r.ErrMessage)
		}
	}
}

// wantCode fails unless err is the Kafka error code want (0: no error).
func wantCode(t *testing.T, what string, err error, want *kerr.Error) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Errorf("%s: %v, want success", what, err)
		}
		return
	}
	if !errors.Is(err, want) {
		t.Errorf("%s: %v, want %v", what, err, want)
	}
}

func codeErr(code int16) error { return kerr.ErrorForCode(code) }

func TestACLFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"server", "--authorizer", "opa"}, `--authorizer "opa": want "acl" or "none"`},
		{[]string{"server", "--super-users", "User:admin"}, "--super-users needs --authorizer acl"},
		{[]string{"server", "--authorizer", "acl", "--super-users", "admin"}, `super user "admin" is not Type:name`},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			var stderr bytes.Buffer
			code := run(tc.args, strings.NewReader(""), io.Discard, &stderr)
			if code != 2 || !strings.Contains(stderr.String(), tc.want) {
				t.Fatalf("exit %d, stderr %q; want 2 and %q", code, stderr.String(), tc.want)
			}
		})
	}
}

// TestACLMatrix runs a node with SASL users and --authorizer acl and checks, with real clients
// over TCP, users × operations against the ACLs an admin (a super user) created with kadm:
// allowed operations succeed and denied ones answer Kafka's error codes.
func TestACLMatrix(t *testing.T) {
	dir := t.TempDir()
	p := startStrata(t, append(serverArgs(filepath.Join(dir, "data")), "--sasl-users", writeACLUsers(t, dir),
		"--authorizer", "acl", "--super-users", "User:admin", "--log-level", "debug")...)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server log:\n%s", p.log())
		}
	})
	if !strings.Contains(p.log(), "authorizer=acl") {
		t.Errorf("serving line does not report the authorizer:\n%s", p.log())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	admin := kadm.NewClient(userClient(t, p.kafka, "admin"))
	if _, err := admin.CreateTopic(ctx, 2, 1, nil, "orders"); err != nil {
		t.Fatalf("admin creates orders: %v", err)
	}

	// alice produces to orders (also transactionally, with ids tx-*); bob consumes it in group g;
	// carol administers the topics named carol-*; dave has nothing.
	acls := []*kadm.ACLBuilder{
		kadm.NewACLs().Allow("User:alice").Topics("orders").Operations(kadm.OpWrite),
		kadm.NewACLs().Allow("User:alice").Topics("alice-").ResourcePatternType(kadm.ACLPatternPrefixed).Operations(kadm.OpWrite),
		kadm.NewACLs().Allow("User:alice").TransactionalIDs("tx-").ResourcePatternType(kadm.ACLPatternPrefixed).Operations(kadm.OpWrite),
		kadm.NewACLs().Allow("User:bob").Topics("orders").Operations(kadm.OpRead),
		kadm.NewACLs().Allow("User:bob").Groups("g").Operations(kadm.OpRead),
		// alice may find g's coordinator and describe it, not join it or commit in it.
		kadm.NewACLs().Allow("User:alice").Groups("g").Operations(kadm.OpDescribe),
		kadm.NewACLs().Allow("User:carol").Topics("carol-").ResourcePatternType(kadm.ACLPatternPrefixed).
			Operations(kadm.OpCreate, kadm.OpDelete, kadm.OpAlterConfigs),
		// A deny beats alice's allow on this one topic.
		kadm.NewACLs().Allow("User:alice").Topics("carol-locked").Operations(kadm.OpWrite),
		kadm.NewACLs().Deny("User:alice").Topics("carol-locked").Operations(kadm.OpWrite),
	}
	for i, b := range acls {
		rs, err := admin.CreateACLs(ctx, b)
		mustACLs(t, fmt.Sprintf("CreateACLs #%d", i), rs, err)
	}

	// DescribeACLs lists what was created: by principal, and MATCH on a name.
	described, err := admin.DescribeACLs(ctx, kadm.NewACLs().Allow("User:carol").AllowHosts().AnyResource().
		ResourcePatternType(kadm.ACLPatternAny).Operations())
	if err != nil || len(described) == 0 || described[0].Err != nil {
		t.Fatalf("DescribeACLs for carol: %v %v", described, err)
	}
	var ops []string
	for _, d := range described[0].Described {
		ops = append(ops, fmt.Sprintf("%s/%s/%v/%v", d.Name, d.Pattern, d.Operation, d.Permission))
	}
	slices.Sort(ops)
	if want := []string{"carol-/PREFIXED/ALTER_CONFIGS/ALLOW", "carol-/PREFIXED/CREATE/ALLOW", "carol-/PREFIXED/DELETE/ALLOW"}; !slices.Equal(ops, want) {
		t.Errorf("DescribeACLs for carol = %v, want %v", ops, want)
	}
	matched, err := admin.DescribeACLs(ctx, kadm.NewACLs().Topics("carol-locked").ResourcePatternType(kadm.ACLPatternMatch).
		Allow().Deny().AllowHosts().DenyHosts().Operations())
	if err != nil || len(matched) != 1 || matched[0].Err != nil || len(matched[0].Described) != 5 {
		t.Errorf("DescribeACLs MATCH carol-locked: %v, %v; want the prefix's 3 and the literal's 2", matched, err)
	}

	clients := map[string]*kgo.Client{}
	for _, u := range aclUsers[1:] {
		clients[u] = userClient(t, p.kafka, u)
	}
	produce := func(user, topic string, opts ...kgo.Opt) error {
		cl := userClient(t, p.kafka, user, append([]kgo.Opt{kgo.DefaultProduceTopic(topic)}, opts...)...)
		pctx, pcancel := context.WithTimeout(ctx, 20*time.Second)
		defer pcancel()
		return cl.ProduceSync(pctx, kgo.StringRecord(user)).FirstErr()
	}

	t.Run("produce", func(t *testing.T) {
		wantCode(t, "alice produces to orders (idempotent)", produce("alice", "orders"), nil)
		wantCode(t, "bob produces (idempotent: InitProducerId needs WRITE on some topic)", produce("bob", "orders"), kerr.ClusterAuthorizationFailed)
		wantCode(t, "bob produces (not idempotent)", produce("bob", "orders", kgo.DisableIdempotentWrite()), kerr.TopicAuthorizationFailed)
		wantCode(t, "dave produces (not idempotent)", produce("dave", "orders", kgo.DisableIdempotentWrite()), kerr.TopicAuthorizationFailed)
	})

	t.Run("consume with a group", func(t *testing.T) {
		cl := userClient(t, p.kafka, "bob", kgo.ConsumeTopics("orders"), kgo.ConsumerGroup("g"),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit())
		got := 0
		for got == 0 && ctx.Err() == nil {
			fs := cl.PollFetches(ctx)
			if err := fs.Err(); err != nil {
				t.Fatalf("bob consumes orders in g: %v", err)
			}
			got += fs.NumRecords()
		}
		if err := cl.CommitUncommittedOffsets(ctx); err != nil {
			t.Fatalf("bob commits in g: %v", err)
		}
		offs, err := kadm.NewClient(clients["bob"]).FetchOffsets(ctx, "g")
		if err != nil || offs.Error() != nil {
			t.Fatalf("bob fetches g's offsets: %v %v", err, offs.Error())
		}
		if o, ok := offs.Lookup("orders", 0); !ok && got > 0 {
			if o, ok = offs.Lookup("orders", 1); !ok {
				t.Errorf("no committed offset for orders in g: %v", offs)
			}
		} else if ok && o.At < 0 {
			t.Errorf("committed offset %v", o)
		}

		// alice may not use the group, dave not even the topic.
		join := kmsg.NewPtrJoinGroupRequest()
		join.Group, join.ProtocolType, join.SessionTimeoutMillis, join.RebalanceTimeoutMillis = "g", "consumer", 10000, 10000
		join.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range"}}
		resp, err := join.RequestWith(ctx, clients["alice"])
		if err != nil {
			t.Fatal(err) // FindCoordinator needs DESCRIBE only
		}
		wantCode(t, "alice joins g", codeErr(resp.ErrorCode), kerr.GroupAuthorizationFailed)
		wantCode(t, "alice commits in g", commit(ctx, clients["alice"], "g"), kerr.GroupAuthorizationFailed)
		dres, err := kadm.NewClient(clients["dave"]).FetchOffsets(ctx, "g")
		if err == nil {
			err = dres.Error()
		}
		wantCode(t, "dave fetches g's offsets", err, kerr.GroupAuthorizationFailed)

		fetch := kmsg.NewPtrFetchRequest()
		fetch.MaxWaitMillis, fetch.MinBytes, fetch.MaxBytes = 100, 1, 1<<20
		ft := kmsg.NewFetchRequestTopic()
		ft.Topic, ft.TopicID = "orders", topicIDOf(t, ctx, clients["bob"], "orders") // by name up to v12, by ID from v13
		fp := kmsg.NewFetchRequestTopicPartition()
		fp.Partition, fp.PartitionMaxBytes, fp.CurrentLeaderEpoch, fp.LogStartOffset = 0, 1<<20, -1, -1
		ft.Partitions = append(ft.Partitions, fp)
		fetch.Topics = append(fetch.Topics, ft)
		for user, want := range map[string]*kerr.Error{"dave": kerr.TopicAuthorizationFailed, "bob": nil} {
			fr, err := fetch.RequestWith(ctx, clients[user].Broker(1))
			if err != nil {
				t.Fatal(err)
			}
			wantCode(t, user+" fetches orders", codeErr(fr.Topics[0].Partitions[0].ErrorCode), want)
		}
	})

	t.Run("metadata", func(t *testing.T) {
		for user, want := range map[string][]string{"dave": nil, "bob": {"orders"}} {
			td, err := kadm.NewClient(clients[user]).ListTopics(ctx)
			if err != nil {
				t.Fatalf("%s lists topics: %v", user, err)
			}
			if got := td.Names(); !slices.Equal(got, want) {
				t.Errorf("%s sees topics %v, want %v", user, got, want)
			}
		}
		req := kmsg.NewPtrMetadataRequest()
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr("orders")
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, clients["dave"])
		if err != nil {
			t.Fatal(err)
		}
		wantCode(t, "dave asks for orders by name", codeErr(resp.Topics[0].ErrorCode), kerr.TopicAuthorizationFailed)
		// Auto-creation needs CREATE: carol may create carol-auto by asking for it, alice may not.
		req.AllowAutoTopicCreation = true
		for user, topic := range map[string]string{"carol": "carol-auto", "alice": "orders-auto"} {
			req.Topics[0].Topic = kmsg.StringPtr(topic)
			resp, err := req.RequestWith(ctx, clients[user])
			if err != nil {
				t.Fatal(err)
			}
			var want *kerr.Error // carol: DELETE on carol-* implies DESCRIBE, and she has CREATE
			if user == "alice" {
				want = kerr.TopicAuthorizationFailed // no DESCRIBE, so not even told whether it exists
			}
			wantCode(t, user+" auto-creates "+topic, codeErr(resp.Topics[0].ErrorCode), want)
		}
	})

	t.Run("create and delete topics", func(t *testing.T) {
		_, err := kadm.NewClient(clients["alice"]).CreateTopic(ctx, 1, 1, nil, "alice-topic")
		wantCode(t, "alice creates alice-topic", err, kerr.TopicAuthorizationFailed)
		_, err = kadm.NewClient(clients["carol"]).CreateTopic(ctx, 1, 1, nil, "carol-x")
		wantCode(t, "carol creates carol-x", err, nil)
		dr, err := kadm.NewClient(clients["alice"]).DeleteTopics(ctx, "orders")
		if err == nil {
			err = dr.Error()
		}
		if err == nil {
			_, err = dr.On("orders", nil)
		}
		wantCode(t, "alice deletes orders", err, kerr.TopicAuthorizationFailed)
		dr, err = kadm.NewClient(clients["carol"]).DeleteTopics(ctx, "carol-x")
		if err == nil {
			err = dr.Error()
		}
		wantCode(t, "carol deletes carol-x", err, nil)
	})

	t.Run("configs", func(t *testing.T) {
		if _, err := admin.CreateTopic(ctx, 1, 1, nil, "carol-conf"); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			user, topic string
			want        *kerr.Error
		}{
			{"carol", "carol-conf", nil}, // ALTER_CONFIGS implies DESCRIBE_CONFIGS
			{"alice", "orders", kerr.TopicAuthorizationFailed},
			{"dave", "carol-conf", kerr.TopicAuthorizationFailed},
		} {
			adm := kadm.NewClient(clients[c.user])
			rcs, err := adm.DescribeTopicConfigs(ctx, c.topic)
			if err == nil {
				var rc kadm.ResourceConfig
				if rc, err = rcs.On(c.topic, nil); err == nil {
					err = rc.Err
				}
			}
			wantCode(t, c.user+" describes the configs of "+c.topic, err, c.want)
			acs, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "retention.ms", Value: kmsg.StringPtr("3600000")}}, c.topic)
			if err == nil {
				var ac kadm.AlterConfigsResponse
				if ac, err = acs.On(c.topic, nil); err == nil {
					err = ac.Err
				}
			}
			wantCode(t, c.user+" alters the configs of "+c.topic, err, c.want)
		}
		bcs, err := kadm.NewClient(clients["carol"]).DescribeBrokerConfigs(ctx)
		if err == nil && len(bcs) > 0 {
			err = bcs[0].Err
		}
		wantCode(t, "carol describes broker configs", err, kerr.ClusterAuthorizationFailed)
	})

	t.Run("transactional produce", func(t *testing.T) {
		wantCode(t, "alice produces in transaction tx-1", txnProduce(ctx, t, p.kafka, "alice", "tx-1"), nil)
		wantCode(t, "alice produces in transaction other", txnProduce(ctx, t, p.kafka, "alice", "other"), kerr.TransactionalIDAuthorizationFailed)
		wantCode(t, "bob produces in transaction tx-2", txnProduce(ctx, t, p.kafka, "bob", "tx-2"), kerr.TransactionalIDAuthorizationFailed)
	})

	t.Run("deny beats allow", func(t *testing.T) {
		if _, err := admin.CreateTopic(ctx, 1, 1, nil, "carol-locked"); err != nil {
			t.Fatal(err)
		}
		wantCode(t, "alice produces to carol-locked", produce("alice", "carol-locked", kgo.DisableIdempotentWrite()), kerr.TopicAuthorizationFailed)
	})

	t.Run("acl apis", func(t *testing.T) {
		dres, err := kadm.NewClient(clients["alice"]).DescribeACLs(ctx, kadm.NewACLs().AnyResource().ResourcePatternType(kadm.ACLPatternAny).
			Allow().Deny().AllowHosts().DenyHosts().Operations())
		if err == nil && len(dres) > 0 {
			err = dres[0].Err
		}
		wantCode(t, "alice describes ACLs", err, kerr.ClusterAuthorizationFailed)
		rs, err := kadm.NewClient(clients["alice"]).CreateACLs(ctx, kadm.NewACLs().Allow("User:alice").Clusters().Operations(kadm.OpAll))
		if err == nil && len(rs) > 0 {
			err = rs[0].Err
		}
		wantCode(t, "alice creates an ACL", err, kerr.ClusterAuthorizationFailed)

		// The admin takes bob's group ACL away: bob's commits are refused at once.
		dr, err := admin.DeleteACLs(ctx, kadm.NewACLs().Allow("User:bob").AllowHosts().Groups("g").Operations(kadm.OpRead))
		if err != nil || len(dr) != 1 || dr[0].Err != nil || len(dr[0].Deleted) != 1 {
			t.Fatalf("DeleteACLs bob's group READ: %+v, %v", dr, err)
		}
		wantCode(t, "bob commits in g after the delete", commit(ctx, clients["bob"], "g"), kerr.GroupAuthorizationFailed)
	})

	t.Run("http ingest", func(t *testing.T) {
		url := "http://" + p.http + "/v1/topics/orders/records"
		for _, c := range []struct {
			user   string
			status int
		}{{"alice", http.StatusOK}, {"bob", http.StatusForbidden}, {"dave", http.StatusForbidden}} {
			if got, body := httpDo(t, http.DefaultClient, "POST", url, c.user, c.user+"-pw", `{"a":1}`+"\n"); got != c.status {
				t.Errorf("%s ingests into orders over HTTP: %d %s, want %d", c.user, got, body, c.status)
			}
		}
		// Auto-creation over HTTP needs CREATE too.
		if got, body := httpDo(t, http.DefaultClient, "POST", "http://"+p.http+"/v1/topics/alice-new/records", "alice", "alice-pw", `{"a":1}`+"\n"); got != http.StatusForbidden {
			t.Errorf("alice ingests into a new topic without CREATE: %d %s, want 403", got, body)
		}
	})
}

// commit commits offset 0 of orders/0 in group as cl's user and returns the first error.
func commit(ctx context.Context, cl *kgo.Client, group string) error {
	rs, err := kadm.NewClient(cl).CommitOffsets(ctx, group, kadm.OffsetsFromRecords(kgo.Record{Topic: "orders", Partition: 0, Offset: 0}))
	if err != nil {
		return err
	}
	return rs.Error()
}

// txnProduce produces one record to orders in a committed transaction as user with id.
func txnProduce(ctx context.Context, t *testing.T, addr, user, id string) error {
	cl := userClient(t, addr, user, kgo.TransactionalID(id), kgo.DefaultProduceTopic("orders"))
	tctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := cl.BeginTransaction(); err != nil {
		return err
	}
	if err := cl.ProduceSync(tctx, kgo.StringRecord(id)).FirstErr(); err != nil {
		_ = cl.EndTransaction(tctx, kgo.TryAbort)
		return err
	}
	return cl.EndTransaction(tctx, kgo.TryCommit)
}

// TestACLWatchOnSecondNode: ACLs created and deleted through one node apply on another node
// through the metadata service's watch.
func TestACLWatchOnSecondNode(t *testing.T) {
	dir := t.TempDir()
	users := writeACLUsers(t, dir)
	c := startClusterWith(t, 1, 2, "--sasl-users", users, "--authorizer", "acl", "--super-users", "User:admin")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	admin1 := kadm.NewClient(userClient(t, c.node(1).kafka, "admin"))
	if _, err := admin1.CreateTopic(ctx, 1, 1, nil, "watched"); err != nil {
		t.Fatal(err)
	}
	dave := userClient(t, c.node(2).kafka, "dave")
	// daveSees asks node 2 itself whether dave may describe the topic.
	daveSees := func() bool {
		req := kmsg.NewPtrMetadataRequest()
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr("watched")
		req.Topics = append(req.Topics, rt)
		resp, err := req.RequestWith(ctx, dave.Broker(2))
		if err != nil {
			t.Fatal(err)
		}
		return resp.Topics[0].ErrorCode != kerr.TopicAuthorizationFailed.Code
	}
	waitFor := func(what string, want bool) time.Duration {
		start := time.Now()
		for daveSees() != want {
			if time.Since(start) > 30*time.Second {
				t.Fatalf("node 2: %s did not apply within 30s", what)
			}
			time.Sleep(5 * time.Millisecond)
		}
		return time.Since(start)
	}
	if daveSees() {
		t.Fatal("dave describes the topic before any ACL")
	}
	rs, err := admin1.CreateACLs(ctx, kadm.NewACLs().Allow("User:dave").Topics("watched").Operations(kadm.OpDescribe))
	mustACLs(t, "CreateACLs through node 1", rs, err)
	t.Logf("node 2 applied an ACL created through node 1 after %v", waitFor("the created ACL", true))
	dr, err := admin1.DeleteACLs(ctx, kadm.NewACLs().Allow("User:dave").AllowHosts().Topics("watched").Operations(kadm.OpDescribe))
	if err != nil || len(dr) != 1 || len(dr[0].Deleted) != 1 {
		t.Fatalf("DeleteACLs through node 1: %+v %v", dr, err)
	}
	t.Logf("node 2 applied the deletion after %v", waitFor("the deletion", false))
}

// startClusterWith is startCluster with extra server flags for every node.
func startClusterWith(t *testing.T, natsNodes, nodes int, args ...string) *cluster {
	t.Helper()
	c := startCluster(t, natsNodes, 0)
	for id := 1; id <= nodes; id++ {
		c.add(id).extraArgs = args
		c.start(id)
	}
	return c
}

// TestKafkaACLsTool drives Apache Kafka's own kafka-acls.sh (org.apache.kafka.tools.AclCommand
// from the kafka-tools jar the compatibility suite builds) as a super user over SASL: it adds an
// ACL, lists it, and the ACL applies to a franz-go client. Skipped when Java or the jar is
// missing (`make clients` builds it).
func TestKafkaACLsTool(t *testing.T) {
	root, err := objstoretest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	lib := filepath.Join(root, "testdata/compat/java/target/lib")
	if _, err := exec.LookPath("java"); err != nil {
		t.Skip("java not on PATH")
	}
	if m, _ := filepath.Glob(filepath.Join(lib, "kafka-tools-*.jar")); len(m) == 0 {
		t.Skip("kafka-tools jar missing from testdata/compat/java/target/lib; run `make clients`")
	}
	dir := t.TempDir()
	p := startStrata(t, append(serverArgs(filepath.Join(dir, "data")), "--sasl-users", writeACLUsers(t, dir),
		"--authorizer", "acl", "--super-users", "User:admin")...)
	props := filepath.Join(dir, "admin.properties")
	if err := os.WriteFile(props, []byte("security.protocol=SASL_PLAINTEXT\nsasl.mechanism=SCRAM-SHA-512\n"+
		`sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="admin-pw";`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := kadm.NewClient(userClient(t, p.kafka, "admin")).CreateTopic(ctx, 1, 1, nil, "tooled"); err != nil {
		t.Fatal(err)
	}
	tool := func(args ...string) string {
		t.Helper()
		argv := append([]string{"-Xmx256m", "-cp", filepath.Join(lib, "*"), "org.apache.kafka.tools.AclCommand",
			"--bootstrap-server", p.kafka, "--command-config", props}, args...)
		out, err := exec.CommandContext(ctx, "java", argv...).CombinedOutput()
		if err != nil {
			t.Fatalf("kafka-acls %s: %v\n%s\n%s", strings.Join(args, " "), err, out, p.log())
		}
		return string(out)
	}
	tool("--add", "--allow-principal", "User:bob", "--operation", "Describe", "--topic", "tooled")
	out := tool("--list", "--topic", "tooled")
	if !strings.Contains(out, "principal=User:bob") || !strings.Contains(out, "operation=DESCRIBE") || !strings.Contains(out, "permissionType=ALLOW") {
		t.Fatalf("kafka-acls --list does not show bob's ACL:\n%s", out)
	}
	td, err := kadm.NewClient(userClient(t, p.kafka, "bob")).ListTopics(ctx)
	if err != nil || !slices.Equal(td.Names(), []string{"tooled"}) {
		t.Fatalf("bob lists topics after kafka-acls --add: %v %v", td.Names(), err)
	}
	tool("--remove", "--force", "--allow-principal", "User:bob", "--operation", "Describe", "--topic", "tooled")
	if out := tool("--list", "--topic", "tooled"); strings.Contains(out, "User:bob") {
		t.Fatalf("kafka-acls --list still shows bob's ACL after --remove:\n%s", out)
	}

	// The README's worked example: --producer and --consumer grant what a producer and a consumer
	// in a group need.
	tool("--add", "--allow-principal", "User:alice", "--producer", "--topic", "tooled")
	tool("--add", "--allow-principal", "User:bob", "--consumer", "--topic", "tooled", "--group", "billing")
	alice := userClient(t, p.kafka, "alice", kgo.DefaultProduceTopic("tooled"))
	if err := alice.ProduceSync(ctx, kgo.StringRecord("paid")).FirstErr(); err != nil {
		t.Fatalf("alice produces after kafka-acls --producer: %v", err)
	}
	bob := userClient(t, p.kafka, "bob", kgo.ConsumeTopics("tooled"), kgo.ConsumerGroup("billing"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	for got := 0; got == 0; {
		fs := bob.PollFetches(ctx)
		if err := fs.Err(); err != nil {
			t.Fatalf("bob consumes in billing after kafka-acls --consumer: %v", err)
		}
		got = fs.NumRecords()
	}
	if err := bob.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatalf("bob commits in billing: %v", err)
	}
	if err := userClient(t, p.kafka, "bob", kgo.DefaultProduceTopic("tooled"), kgo.DisableIdempotentWrite()).
		ProduceSync(ctx, kgo.StringRecord("x")).FirstErr(); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("bob produces: %v, want TOPIC_AUTHORIZATION_FAILED", err)
	}
}

// TestACLCommand drives strata acl add, list and remove as a super user against a node, and the
// ACLs apply to a client.
func TestACLCommand(t *testing.T) {
	dir := t.TempDir()
	p := startStrata(t, append(serverArgs(filepath.Join(dir, "data")), "--sasl-users", writeACLUsers(t, dir),
		"--authorizer", "acl", "--super-users", "User:admin")...)
	t.Setenv("STRATA_SASL_PASSWORD", "admin-pw")
	strata := func(wantCode int, args ...string) string {
		t.Helper()
		var out, errb bytes.Buffer
		args = append(args, "--bootstrap", p.kafka, "--sasl-mechanism", "SCRAM-SHA-256", "--sasl-user", "admin")
		if code := run(args, strings.NewReader(""), &out, &errb); code != wantCode {
			t.Fatalf("strata %s: exit %d, want %d\n%s%s", strings.Join(args, " "), code, wantCode, out.String(), errb.String())
		}
		return out.String() + errb.String()
	}
	strata(0, "topic", "create", "ledger")
	if out := strata(0, "acl", "add", "--principal", "User:bob", "--operation", "read", "--operation", "describe",
		"--topic", "led", "--prefixed"); !strings.Contains(out, "added 2 ACLs") {
		t.Errorf("acl add: %s", out)
	}
	strata(0, "acl", "add", "--principal", "User:bob", "--operation", "read", "--group", "books")
	out := strata(0, "acl", "list", "--principal", "User:bob")
	var rows []string
	for _, l := range strings.Split(out, "\n") {
		rows = append(rows, strings.Join(strings.Fields(l), " "))
	}
	for _, want := range []string{"topic:led prefixed User:bob * read allow", "topic:led prefixed User:bob * describe allow",
		"group:books literal User:bob * read allow"} {
		if !slices.Contains(rows, want) {
			t.Errorf("acl list does not show %q:\n%s", want, out)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	td, err := kadm.NewClient(userClient(t, p.kafka, "bob")).ListTopics(ctx)
	if err != nil || !slices.Equal(td.Names(), []string{"ledger"}) {
		t.Fatalf("bob lists topics: %v %v", td.Names(), err)
	}
	if out := strata(0, "acl", "remove", "--principal", "User:bob", "--operation", "describe", "--operation", "read",
		"--topic", "led", "--prefixed"); !strings.Contains(out, "removed 2 ACLs") {
		t.Errorf("acl remove: %s", out)
	}
	if out := strata(0, "acl", "list", "--topic", "led"); strings.Contains(out, "User:bob") {
		t.Errorf("acl list after remove still shows bob on led:\n%s", out)
	}
	strata(2, "acl", "add", "--principal", "User:bob", "--operation", "fly", "--topic", "t")
	strata(2, "acl", "add", "--principal", "User:bob", "--operation", "read")
	// Without ALTER on the cluster the node refuses.
	t.Setenv("STRATA_SASL_PASSWORD", "bob-pw")
	var out2, errb bytes.Buffer
	code := run([]string{"acl", "add", "--principal", "User:bob", "--operation", "all", "--cluster", "--bootstrap", p.kafka,
		"--sasl-mechanism", "SCRAM-SHA-256", "--sasl-user", "bob"}, strings.NewReader(""), &out2, &errb)
	if code != 1 || !strings.Contains(errb.String(), "CLUSTER_AUTHORIZATION_FAILED") {
		t.Errorf("bob adds an ACL: exit %d, %s", code, errb.String())
	}
}

// TestConsoleACLs: with --authorizer acl the console's JSON API and the query API show and change
// only what the HTTP Basic user may: bob (DESCRIBE and READ on "shared", nothing on "private") sees one topic,
// gets 403 on the other's page, records and deletion, and may not create topics; the super user sees
// and deletes everything.
func TestConsoleACLs(t *testing.T) {
	dir := t.TempDir()
	p := startStrata(t, append(serverArgs(filepath.Join(dir, "data")), "--sasl-users", writeACLUsers(t, dir),
		"--authorizer", "acl", "--super-users", "User:admin")...)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	adm := kadm.NewClient(userClient(t, p.kafka, "admin"))
	for _, topic := range []string{"shared", "private"} {
		if _, err := adm.CreateTopic(ctx, 1, 1, nil, topic); err != nil {
			t.Fatal(err)
		}
	}
	rs, err := adm.CreateACLs(ctx, kadm.NewACLs().Allow("User:bob").Topics("shared").
		Operations(kadm.OpRead, kadm.OpDescribe).ResourcePatternType(kadm.ACLPatternLiteral))
	mustACLs(t, "bob on shared", rs, err)

	base := "http://" + p.http
	get := func(user, path string) (int, string) {
		return httpDo(t, http.DefaultClient, "GET", base+path, user, user+"-pw", "")
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, body := get("bob", "/v1/topics")
		if code == http.StatusOK && strings.Contains(body, `"shared"`) {
			if strings.Contains(body, `"private"`) {
				t.Fatalf("bob's topic list shows private: %s", body)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("bob's topic list: %d %s", code, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	for _, c := range []struct {
		method, path string
		want         int
	}{
		{"GET", "/v1/topics/shared", http.StatusOK},
		{"GET", "/v1/topics/shared/partitions/0/records?offset=0", http.StatusOK},
		{"GET", "/v1/topics/private", http.StatusForbidden},
		{"GET", "/v1/topics/private/partitions", http.StatusForbidden},
		{"GET", "/v1/topics/private/partitions/0/records?offset=0", http.StatusForbidden},
		{"DELETE", "/v1/topics/shared", http.StatusForbidden},
		{"PATCH", "/v1/topics/shared/configs", http.StatusForbidden},
		{"POST", "/v1/topics", http.StatusForbidden},
	} {
		body := ""
		switch c.method {
		case "PATCH":
			body = `{"configs":{"retention.ms":"1000"}}`
		case "POST":
			body = `{"name":"bobs"}`
		}
		req, err := http.NewRequest(c.method, base+c.path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.SetBasicAuth("bob", "bob-pw")
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("bob %s %s: %d %s, want %d", c.method, c.path, resp.StatusCode, b, c.want)
		}
	}
	// SQL and search read only topics the user may READ (whether or not they exist).
	for _, c := range []struct {
		method, path, body string
		want               int
	}{
		{"POST", "/v1/sql", `SELECT count(*) FROM shared`, http.StatusOK},
		{"POST", "/v1/sql", `SELECT count(*) FROM private`, http.StatusForbidden},
		{"POST", "/v1/sql", `SELECT count(*) FROM topic_rows('private')`, http.StatusForbidden},
		{"POST", "/v1/sql", `SELECT count(*) FROM nonexistent`, http.StatusForbidden},
		{"GET", "/v1/search?topic=private", "", http.StatusForbidden},
		{"GET", "/v1/search?topic=shared", "", http.StatusOK},
	} {
		if code, body := httpDo(t, http.DefaultClient, c.method, base+c.path, "bob", "bob-pw", c.body); code != c.want {
			t.Errorf("bob %s %s %q: %d %s, want %d", c.method, c.path, c.body, code, body, c.want)
		}
	}
	if code, body := httpDo(t, http.DefaultClient, "POST", base+"/v1/sql", "admin", "admin-pw", `SELECT count(*) FROM private`); code != http.StatusOK {
		t.Errorf("admin reads private: %d %s", code, body)
	}
	if code, body := get("admin", "/v1/topics"); code != http.StatusOK || !strings.Contains(body, `"private"`) {
		t.Errorf("admin's topic list: %d %s", code, body)
	}
	if code, body := httpDo(t, http.DefaultClient, "DELETE", base+"/v1/topics/private", "admin", "admin-pw", ""); code != http.StatusOK {
		t.Errorf("admin deletes private: %d %s", code, body)
	}
}

package kafka

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-log/strata/ingest/broker"
)

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestListOffsets(t *testing.T) {
	n := startNode(t, nodeOpts{})
	ctx := testCtx(t)
	n.createTopic(t, "lo", 1, nil)
	cl := n.client(t, kgo.DefaultProduceTopic("lo"))
	base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
	for i := 0; i < 10; i++ {
		r := &kgo.Record{Value: []byte{byte(i)}, Timestamp: base.Add(time.Duration(i) * time.Minute)}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil { // one batch per record
			t.Fatal(err)
		}
	}
	adm := kadm.NewClient(cl)
	start, err := adm.ListStartOffsets(ctx, "lo")
	if err != nil {
		t.Fatal(err)
	}
	end, err := adm.ListEndOffsets(ctx, "lo")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := start.Lookup("lo", 0); o.Offset != 0 || o.Err != nil {
		t.Fatalf("start %+v", o)
	}
	if o, _ := end.Lookup("lo", 0); o.Offset != 10 || o.Err != nil {
		t.Fatalf("end %+v", o)
	}
	after, err := adm.ListOffsetsAfterMilli(ctx, base.Add(4*time.Minute+time.Second).UnixMilli(), "lo")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := after.Lookup("lo", 0); o.Offset != 5 {
		t.Fatalf("first offset after minute 4: %+v", o)
	}

	r := n.raw(t)
	lookup := func(version int16, ts int64) kmsg.ListOffsetsResponseTopicPartition {
		req := kmsg.NewPtrListOffsetsRequest()
		req.SetVersion(version)
		rt := kmsg.NewListOffsetsRequestTopic()
		rt.Topic = "lo"
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Timestamp, rp.CurrentLeaderEpoch, rp.MaxNumOffsets = ts, -1, 1
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		return r.roundTrip(req).(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0]
	}
	cases := []struct {
		name       string
		version    int16
		ts         int64
		wantOffset int64
		wantTS     int64
	}{
		{"latest", 9, broker.LatestTimestamp, 10, -1},
		{"earliest", 9, broker.EarliestTimestamp, 0, -1},
		{"max timestamp", 9, broker.MaxTimestamp, 9, base.Add(9 * time.Minute).UnixMilli()},
		{"earliest local", 9, broker.EarliestLocalTimestamp, 0, -1},
		{"latest tiered, nothing tiered", 9, broker.LatestTieredTimestamp, -1, -1},
		{"earliest pending upload, nothing tiered: the log start", 11, broker.EarliestPendingUploadTimestamp, 0, -1},
		{"after the newest", 9, time.Now().Add(time.Hour).UnixMilli(), -1, -1},
		{"v0 latest", 0, broker.LatestTimestamp, 10, -1},
	}
	for _, tc := range cases {
		got := lookup(tc.version, tc.ts)
		if got.ErrorCode != 0 {
			t.Fatalf("%s: %v", tc.name, kerr.ErrorForCode(got.ErrorCode))
		}
		off := got.Offset
		if tc.version == 0 {
			off = got.OldStyleOffsets[0]
		}
		if off != tc.wantOffset || (tc.version > 0 && got.Timestamp != tc.wantTS) {
			t.Fatalf("%s: offset %d ts %d, want %d %d", tc.name, off, got.Timestamp, tc.wantOffset, tc.wantTS)
		}
	}
}

func TestTopicConfigs(t *testing.T) {
	n := startNode(t, nodeOpts{})
	ctx := testCtx(t)
	adm := n.admin(t)
	ret := "3600000"
	n.createTopic(t, "cfg", 1, map[string]*string{"retention.ms": &ret})

	bad := "forever"
	resp, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"retention.ms": &bad}, "cfg-bad")
	if err == nil {
		err = resp.Err
	}
	if !errors.Is(err, kerr.InvalidConfig) {
		t.Fatalf("bad config value: %v", err)
	}
	resp, err = adm.CreateTopic(ctx, 1, 1, map[string]*string{"no.such.config": &ret}, "cfg-bad")
	if err == nil {
		err = resp.Err
	}
	if !errors.Is(err, kerr.InvalidConfig) {
		t.Fatalf("unknown config: %v", err)
	}

	describe := func() map[string]kadm.Config {
		t.Helper()
		rcs, err := adm.DescribeTopicConfigs(ctx, "cfg")
		if err != nil {
			t.Fatal(err)
		}
		rc, err := rcs.On("cfg", nil)
		if err != nil || rc.Err != nil {
			t.Fatal(err, rc.Err)
		}
		m := map[string]kadm.Config{}
		for _, c := range rc.Configs {
			m[c.Key] = c
		}
		return m
	}
	val := func(c kadm.Config) string { return c.MaybeValue() }
	got := describe()
	if c := got["retention.ms"]; val(c) != "3600000" || c.Source != kmsg.ConfigSourceDynamicTopicConfig {
		t.Fatalf("retention.ms: %+v", c)
	}
	if c := got["cleanup.policy"]; val(c) != "delete" || c.Source != kmsg.ConfigSourceDefaultConfig {
		t.Fatalf("cleanup.policy default: %+v", c)
	}
	if c := got["strata.durability"]; val(c) != "local" {
		t.Fatalf("strata.durability default: %+v", c)
	}

	obj, compact := "object", "compact"
	alter := []kadm.AlterConfig{
		{Op: kadm.SetConfig, Name: "strata.durability", Value: &obj},
		{Op: kadm.AppendConfig, Name: "cleanup.policy", Value: &compact},
		{Op: kadm.DeleteConfig, Name: "retention.ms"},
	}
	ar, err := adm.AlterTopicConfigs(ctx, alter, "cfg")
	if err != nil || ar[0].Err != nil {
		t.Fatal(err, ar)
	}
	got = describe()
	if val(got["strata.durability"]) != "object" || val(got["cleanup.policy"]) != "delete,compact" ||
		got["retention.ms"].Source != kmsg.ConfigSourceDefaultConfig {
		t.Fatalf("after incremental alter: %+v %+v %+v", got["strata.durability"], got["cleanup.policy"], got["retention.ms"])
	}
	durBad := "disk"
	ar, err = adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "strata.durability", Value: &durBad}}, "cfg")
	if err != nil || !errors.Is(ar[0].Err, kerr.InvalidConfig) {
		t.Fatalf("bad durability: %v %v", err, ar)
	}

	// Non-incremental AlterConfigs replaces the whole set.
	seg := "1048576"
	ar, err = adm.AlterTopicConfigsState(ctx, []kadm.AlterConfig{{Name: "segment.bytes", Value: &seg}}, "cfg")
	if err != nil || ar[0].Err != nil {
		t.Fatal(err, ar)
	}
	got = describe()
	if val(got["segment.bytes"]) != seg || val(got["strata.durability"]) != "local" {
		t.Fatalf("after alter: %+v %+v", got["segment.bytes"], got["strata.durability"])
	}

	brc, err := adm.DescribeBrokerConfigs(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, rc := range brc {
		for _, c := range rc.Configs {
			if c.Key == "num.partitions" && val(c) == "1" {
				found = true
			}
		}
	}
	if !found {
		t.Fatalf("broker configs lack num.partitions: %+v", brc)
	}
}

func TestDeleteRecords(t *testing.T) {
	n := startNode(t, nodeOpts{})
	ctx := testCtx(t)
	n.createTopic(t, "dr", 1, nil)
	r := n.raw(t)
	for i := 0; i < 4; i++ {
		if pr := r.produceRaw("dr", 0, recordBatch(5, -1, -1, -1), -1); pr.ErrorCode != 0 {
			t.Fatal(kerr.ErrorForCode(pr.ErrorCode))
		}
	}
	adm := n.admin(t)
	offs := kadm.Offsets{}
	offs.AddOffset("dr", 0, 12, -1)
	res, err := adm.DeleteRecords(ctx, offs)
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := res.Lookup("dr", 0); d.Err != nil || d.LowWatermark != 12 {
		t.Fatalf("delete records: %+v", d)
	}
	start, _ := adm.ListStartOffsets(ctx, "dr")
	if o, _ := start.Lookup("dr", 0); o.Offset != 12 {
		t.Fatalf("start after delete: %+v", o)
	}
	// Fetching below the new start is out of range; above the end too.
	for _, off := range []int64{3, 21} {
		fr := fetchOnceRaw(t, r, "dr", off, 0)
		if fr.ErrorCode != kerr.OffsetOutOfRange.Code || fr.LogStartOffset != 12 || fr.HighWatermark != 20 {
			t.Fatalf("fetch at %d: %v start %d hw %d", off, kerr.ErrorForCode(fr.ErrorCode), fr.LogStartOffset, fr.HighWatermark)
		}
	}
	// A fetch inside a batch returns the whole batch.
	fr := fetchOnceRaw(t, r, "dr", 17, 0)
	if fr.ErrorCode != 0 || len(fr.RecordBatches) == 0 {
		t.Fatalf("fetch at 17: %v", kerr.ErrorForCode(fr.ErrorCode))
	}
	var rb kmsg.RecordBatch
	if err := rb.ReadFrom(fr.RecordBatches); err != nil || rb.FirstOffset != 15 {
		t.Fatalf("batch at %d, err %v; want the batch starting at 15", rb.FirstOffset, err)
	}
	offs = kadm.Offsets{}
	offs.AddOffset("dr", 0, 99, -1)
	res, _ = adm.DeleteRecords(ctx, offs)
	if d, _ := res.Lookup("dr", 0); !errors.Is(d.Err, kerr.OffsetOutOfRange) {
		t.Fatalf("delete past the end: %+v", d)
	}
}

func fetchOnceRaw(t *testing.T, r *rawConn, topic string, offset int64, maxWait int32) kmsg.FetchResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrFetchRequest()
	req.SetVersion(12)
	req.MaxWaitMillis, req.MinBytes, req.MaxBytes = maxWait, 1, 1<<20
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.FetchOffset, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch = offset, 1<<20, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp := r.roundTrip(req).(*kmsg.FetchResponse)
	if resp.ErrorCode != 0 {
		t.Fatalf("fetch: %v", kerr.ErrorForCode(resp.ErrorCode))
	}
	return resp.Topics[0].Partitions[0]
}

func TestTopicAdmin(t *testing.T) {
	n := startNode(t, nodeOpts{})
	ctx := testCtx(t)
	adm := n.admin(t)
	n.createTopic(t, "adm", 2, nil)

	if resp, err := adm.CreateTopic(ctx, 2, 1, nil, "adm"); err == nil && !errors.Is(resp.Err, kerr.TopicAlreadyExists) {
		t.Fatalf("create twice: %v", resp.Err)
	}
	for _, bad := range []string{"", "..", "a/b", string(make([]byte, 250))} {
		resp, err := adm.CreateTopic(ctx, 1, 1, nil, bad)
		if err == nil {
			err = resp.Err
		}
		if !errors.Is(err, kerr.InvalidTopicException) {
			t.Fatalf("name %q: %v", bad, err)
		}
	}
	if _, err := adm.CreatePartitions(ctx, 3, "adm"); err != nil {
		t.Fatal(err)
	}
	if r, err := adm.UpdatePartitions(ctx, 2, "adm"); err != nil || !errors.Is(r["adm"].Err, kerr.InvalidPartitions) {
		t.Fatalf("shrink: %v %+v", err, r)
	}
	md, err := adm.Metadata(ctx, "adm")
	if err != nil {
		t.Fatal(err)
	}
	td := md.Topics["adm"]
	if len(td.Partitions) != 5 {
		t.Fatalf("%d partitions after adding 3 to 2", len(td.Partitions))
	}
	for _, p := range td.Partitions {
		if p.Leader != 1 || p.Err != nil || p.LeaderEpoch < 1 {
			t.Fatalf("partition %d: leader %d epoch %d err %v", p.Partition, p.Leader, p.LeaderEpoch, p.Err)
		}
	}
	if td.ID.String() == "" || td.ID == (kadm.TopicID{}) {
		t.Fatal("no topic id")
	}
	if len(md.Brokers) != 1 || md.Brokers[0].Port == 0 || md.Controller != 1 {
		t.Fatalf("brokers %+v controller %d", md.Brokers, md.Controller)
	}

	// FindCoordinator (batched v4+ via kadm) and DescribeCluster.
	for _, c := range adm.FindGroupCoordinators(ctx, "g1", "g2") {
		if c.Err != nil || c.NodeID != 1 {
			t.Fatalf("coordinator of %s: %+v", c.Name, c)
		}
	}
	fc := kmsg.NewPtrFindCoordinatorRequest()
	fc.SetVersion(2)
	fc.CoordinatorKey, fc.CoordinatorType = "tx", 1
	if got := n.raw(t).roundTrip(fc).(*kmsg.FindCoordinatorResponse); got.ErrorCode != kerr.TransactionalIDAuthorizationFailed.Code {
		t.Fatalf("txn coordinator: %v", kerr.ErrorForCode(got.ErrorCode))
	}
	bd, err := adm.ListBrokers(ctx)
	if err != nil || len(bd) != 1 || bd[0].NodeID != 1 {
		t.Fatalf("brokers: %v %+v", err, bd)
	}

	dr, err := adm.DeleteTopics(ctx, "adm")
	if err != nil || dr["adm"].Err != nil {
		t.Fatalf("delete: %v %+v", err, dr)
	}
	dr, err = adm.DeleteTopics(ctx, "adm")
	if err != nil || !errors.Is(dr["adm"].Err, kerr.UnknownTopicOrPartition) {
		t.Fatalf("delete twice: %v %+v", err, dr)
	}
	if n.b.Leads(topicPartition("adm", 0)) {
		t.Fatal("still leading a deleted topic")
	}
}

func TestAutoCreate(t *testing.T) {
	cases := []struct {
		name     string
		disabled bool
		wantErr  *kerr.Error
	}{
		{"enabled", false, nil},
		{"disabled", true, kerr.UnknownTopicOrPartition},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			n := startNode(t, nodeOpts{brokerCfg: func(c *broker.Config) { c.Defaults.AutoCreateTopicsDisabled = tc.disabled }})
			req := kmsg.NewPtrMetadataRequest()
			req.SetVersion(9)
			req.AllowAutoTopicCreation = true
			rt := kmsg.NewMetadataRequestTopic()
			rt.Topic = strp("auto")
			req.Topics = append(req.Topics, rt)
			got := n.raw(t).roundTrip(req).(*kmsg.MetadataResponse)
			code := got.Topics[0].ErrorCode
			if tc.wantErr == nil {
				if code != 0 || len(got.Topics[0].Partitions) != 1 || got.Topics[0].Partitions[0].Leader != 1 {
					t.Fatalf("auto-create: %v %+v", kerr.ErrorForCode(code), got.Topics[0])
				}
				return
			}
			if code != tc.wantErr.Code {
				t.Fatalf("error %v, want %v", kerr.ErrorForCode(code), tc.wantErr)
			}
			if pr := n.raw(t).produceRaw("auto", 0, recordBatch(1, -1, -1, -1), 1); pr.ErrorCode != kerr.UnknownTopicOrPartition.Code {
				t.Fatalf("produce to unknown topic: %v", kerr.ErrorForCode(pr.ErrorCode))
			}
		})
	}
}

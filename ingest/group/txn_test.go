package group

import (
	"context"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-log/strata/metadata"
)

// TxnOffsetCommit returns what to stage and commits nothing itself; OffsetFetch with
// require_stable answers UNSTABLE_OFFSET_COMMIT for partitions with staged offsets.
func TestTxnOffsetCommitAndRequireStable(t *testing.T) {
	forEachStore(t, func(t *testing.T, store metadata.Store) {
		ctx := context.Background()
		createTopic(t, store, "t", 2)
		pending := map[metadata.TopicPartition]bool{}
		c := newTestCoordinator(t, store, func(cfg *Config) {
			cfg.PendingOffsets = func(context.Context, string) (map[metadata.TopicPartition]bool, error) { return pending, nil }
		})

		req := kmsg.NewPtrTxnOffsetCommitRequest()
		req.Version, req.Group, req.TransactionalID = 3, "g", "tx"
		rt := kmsg.NewTxnOffsetCommitRequestTopic()
		rt.Topic = "t"
		for p, off := range []int64{7, 8} {
			rp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
			rp.Partition, rp.Offset, rp.LeaderEpoch = int32(p), off, 2
			rt.Partitions = append(rt.Partitions, rp)
		}
		bad := kmsg.NewTxnOffsetCommitRequestTopicPartition()
		bad.Partition = 5
		rt.Partitions = append(rt.Partitions, bad)
		req.Topics = append(req.Topics, rt)
		staged, resp := c.TxnOffsetCommit(ctx, req)
		if len(staged) != 2 || staged[0].Offset != 7 || staged[1].Offset != 8 || staged[0].LeaderEpoch != 2 || staged[0].Group != "g" {
			t.Fatalf("staged %+v", staged)
		}
		if codes := []int16{resp.Topics[0].Partitions[0].ErrorCode, resp.Topics[0].Partitions[1].ErrorCode, resp.Topics[0].Partitions[2].ErrorCode}; codes[0] != 0 || codes[1] != 0 || codes[2] != kerr.UnknownTopicOrPartition.Code {
			t.Fatalf("codes %v", codes)
		}
		if got, _ := store.FetchOffsets(ctx, "g"); len(got) != 0 {
			t.Fatalf("TxnOffsetCommit committed %v", got)
		}
		req.MemberID, req.Generation = "m-unknown", 1
		if _, resp := c.TxnOffsetCommit(ctx, req); resp.Topics[0].Partitions[0].ErrorCode != kerr.UnknownMemberID.Code {
			t.Fatalf("a member of a group this coordinator does not know: %v", kerr.ErrorForCode(resp.Topics[0].Partitions[0].ErrorCode))
		}

		if err := store.CommitOffsets(ctx, "g", map[metadata.TopicPartition]metadata.OffsetCommit{{Topic: "t", Partition: 1}: {Offset: 3, LeaderEpoch: -1}}); err != nil {
			t.Fatal(err)
		}
		pending[metadata.TopicPartition{Topic: "t", Partition: 0}] = true
		fetch := func(version int16, stable bool) []int16 {
			f := kmsg.NewPtrOffsetFetchRequest()
			f.Version, f.Group, f.RequireStable = version, "g", stable
			ft := kmsg.NewOffsetFetchRequestTopic()
			ft.Topic, ft.Partitions = "t", []int32{0, 1}
			f.Topics = append(f.Topics, ft)
			if version >= 8 {
				g := kmsg.NewOffsetFetchRequestGroup()
				g.Group = "g"
				gt := kmsg.NewOffsetFetchRequestGroupTopic()
				gt.Topic, gt.Partitions = "t", []int32{0, 1}
				g.Topics = append(g.Topics, gt)
				f.Groups = append(f.Groups, g)
			}
			r := c.OffsetFetch(ctx, f)
			if version >= 8 {
				ps := r.Groups[0].Topics[0].Partitions
				return []int16{ps[0].ErrorCode, ps[1].ErrorCode}
			}
			ps := r.Topics[0].Partitions
			return []int16{ps[0].ErrorCode, ps[1].ErrorCode}
		}
		unstable := kerr.UnstableOffsetCommit.Code
		for _, tc := range []struct {
			version int16
			stable  bool
			want    [2]int16
		}{{7, true, [2]int16{unstable, 0}}, {8, true, [2]int16{unstable, 0}}, {8, false, [2]int16{0, 0}}, {6, true, [2]int16{0, 0}}} {
			if got := fetch(tc.version, tc.stable); got[0] != tc.want[0] || got[1] != tc.want[1] {
				t.Errorf("OffsetFetch v%d require_stable=%v: %v, want %v", tc.version, tc.stable, got, tc.want)
			}
		}
	})
}

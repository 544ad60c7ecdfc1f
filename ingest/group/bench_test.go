package group

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-log/strata/metadata"
)

// stableGroup brings n members to Stable and returns their join responses, leader first.
func stableGroup(b *testing.B, c *Coordinator, group string, n int) []*kmsg.JoinGroupResponse {
	joined := joinTogether(b, c, group, n, 30*time.Second, "t")
	syncAll(b, c, group, joined)
	return joined
}

// syncConcurrently sends every member's SyncGroup at once; whoever comes before the leader waits.
func syncConcurrently(b *testing.B, c *Coordinator, group string, joined []*kmsg.JoinGroupResponse) {
	assign := map[string]string{}
	for _, r := range joined {
		assign[r.MemberID] = "a"
	}
	var wg sync.WaitGroup
	for i, r := range joined {
		var a map[string]string
		if i == 0 {
			a = assign
		}
		wg.Go(func() {
			if resp := c.SyncGroup(context.Background(), syncReq(group, r.MemberID, r.Generation, a)); resp.ErrorCode != 0 {
				b.Error(kerr.ErrorForCode(resp.ErrorCode))
			}
		})
	}
	wg.Wait()
}

func BenchmarkHeartbeat(b *testing.B) {
	c, _ := New(Config{Store: storeFactories["memmeta"](b), RebalanceDelay: 50 * time.Millisecond})
	defer c.Close()
	r := stableGroup(b, c, "g", 1)[0]
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if code := heartbeat(c, "g", r.MemberID, r.Generation); code != 0 {
				b.Fatal(kerr.ErrorForCode(code))
			}
		}
	})
}

func BenchmarkOffsetCommit(b *testing.B) {
	for name, f := range storeFactories {
		b.Run(name, func(b *testing.B) {
			store := f(b)
			if _, err := store.CreateTopic(context.Background(), metadata.Topic{Name: "t", Partitions: 8}); err != nil {
				b.Fatal(err)
			}
			c, _ := New(Config{Store: store, RebalanceDelay: 50 * time.Millisecond})
			defer c.Close()
			r := stableGroup(b, c, "g", 1)[0]
			ctx := context.Background()
			b.ResetTimer()
			for i := range b.N {
				req := commitReq(8, "g", r.Generation, r.MemberID, "t", int32(i%8), int64(i))
				if code := c.OffsetCommit(ctx, req).Topics[0].Partitions[0].ErrorCode; code != 0 {
					b.Fatal(kerr.ErrorForCode(code))
				}
			}
		})
	}
}

// BenchmarkRebalance measures one whole rebalance of a stable group: the leader rejoins, every
// follower rejoins, and every member syncs the new assignment.
func BenchmarkRebalance(b *testing.B) {
	for _, n := range []int{2, 10, 100} {
		b.Run(fmt.Sprintf("members=%d", n), func(b *testing.B) {
			c, _ := New(Config{Store: storeFactories["memmeta"](b), RebalanceDelay: 200 * time.Millisecond})
			defer c.Close()
			joined := stableGroup(b, c, "g", n)
			ctx := context.Background()
			b.ResetTimer()
			for range b.N {
				leader := make(chan *kmsg.JoinGroupResponse, 1)
				go func() { leader <- c.JoinGroup(ctx, joinReq("g", joined[0].MemberID, 30*time.Second, "t")) }()
				for heartbeat(c, "g", joined[0].MemberID, joined[0].Generation) != kerr.RebalanceInProgress.Code {
				}
				next := make([]*kmsg.JoinGroupResponse, n)
				var wg sync.WaitGroup
				for i := 1; i < n; i++ {
					wg.Go(func() { next[i] = c.JoinGroup(ctx, joinReq("g", joined[i].MemberID, 30*time.Second, "t")) })
				}
				wg.Wait()
				next[0] = <-leader
				syncConcurrently(b, c, "g", next)
				joined = next
			}
		})
	}
}

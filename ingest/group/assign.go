package group

import (
	"cmp"
	"slices"

	"github.com/strata-log/strata/metadata"
)

// Server-side assignors of KIP-848 consumer groups, named as Kafka names them in
// group.consumer.assignors. The first is the default.
const (
	AssignorUniform = "uniform"
	AssignorRange   = "range"
)

var assignors = map[string]func(assignInput) map[string][]metadata.TopicPartition{
	AssignorUniform: assignUniform,
	AssignorRange:   assignRange,
}

// assignInput is what an assignor sees: each member's subscribed topics (resolved to existing
// topics), the partition counts of those topics, and the previous target for stickiness.
type assignInput struct {
	members    []string            // sorted member ids
	subscribed map[string][]string // member → sorted topic names
	partitions map[string]int32    // topic → partition count
	previous   map[string]map[metadata.TopicPartition]struct{}
}

// assignRange is Kafka's range assignor per topic: the members subscribed to a topic, in member
// id order, each take a contiguous range; the first (partitions mod members) take one more.
func assignRange(in assignInput) map[string][]metadata.TopicPartition {
	out := make(map[string][]metadata.TopicPartition, len(in.members))
	byTopic := map[string][]string{}
	for _, m := range in.members {
		out[m] = nil
		for _, t := range in.subscribed[m] {
			byTopic[t] = append(byTopic[t], m)
		}
	}
	for t, ms := range byTopic {
		n := in.partitions[t]
		per, extra := n/int32(len(ms)), n%int32(len(ms))
		next := int32(0)
		for i, m := range ms {
			take := per
			if int32(i) < extra {
				take++
			}
			for p := next; p < next+take; p++ {
				out[m] = append(out[m], metadata.TopicPartition{Topic: t, Partition: p})
			}
			next += take
		}
	}
	for m := range out {
		slices.SortFunc(out[m], metadata.TopicPartition.Compare)
	}
	return out
}

// assignUniform spreads partitions evenly over the members that subscribe to their topic and is
// sticky: a partition stays with its previous target owner while that keeps the spread within one
// partition between any two members that could both own it.
func assignUniform(in assignInput) map[string][]metadata.TopicPartition {
	eligible := map[string]map[string]bool{} // topic → members subscribed
	for _, m := range in.members {
		for _, t := range in.subscribed[m] {
			if eligible[t] == nil {
				eligible[t] = map[string]bool{}
			}
			eligible[t][m] = true
		}
	}
	var all []metadata.TopicPartition
	for t := range eligible {
		for p := range in.partitions[t] {
			all = append(all, metadata.TopicPartition{Topic: t, Partition: p})
		}
	}
	slices.SortFunc(all, metadata.TopicPartition.Compare)

	owner := make(map[metadata.TopicPartition]string, len(all))
	count := make(map[string]int, len(in.members))
	for _, m := range in.members {
		count[m] = 0
	}
	// Balanced share, for the homogeneous case: no member keeps more than its quota.
	quota := 0
	if len(in.members) > 0 {
		quota = (len(all) + len(in.members) - 1) / len(in.members)
	}
	for _, m := range in.members {
		var kept []metadata.TopicPartition
		for tp := range in.previous[m] {
			if eligible[tp.Topic][m] && tp.Partition < in.partitions[tp.Topic] {
				kept = append(kept, tp)
			}
		}
		slices.SortFunc(kept, metadata.TopicPartition.Compare)
		for _, tp := range kept {
			if _, taken := owner[tp]; taken || count[m] >= quota {
				continue
			}
			owner[tp] = m
			count[m]++
		}
	}
	lightest := func(tp metadata.TopicPartition, except string) string {
		best := ""
		for _, m := range in.members {
			if m == except || !eligible[tp.Topic][m] {
				continue
			}
			if best == "" || count[m] < count[best] {
				best = m
			}
		}
		return best
	}
	for _, tp := range all {
		if _, ok := owner[tp]; ok {
			continue
		}
		m := lightest(tp, "")
		owner[tp] = m
		count[m]++
	}
	// With different subscriptions the quota pass can leave a member more than one partition
	// above another that could take one of its partitions: move until none can. Each move lowers
	// the sum of squared counts, so this ends.
	for moved := true; moved; {
		moved = false
		for _, tp := range all {
			from := owner[tp]
			to := lightest(tp, from)
			if to != "" && count[to] < count[from]-1 {
				owner[tp] = to
				count[from]--
				count[to]++
				moved = true
			}
		}
	}
	out := make(map[string][]metadata.TopicPartition, len(in.members))
	for _, m := range in.members {
		out[m] = nil
	}
	for _, tp := range all {
		out[owner[tp]] = append(out[owner[tp]], tp)
	}
	return out
}

// preferredAssignor is the assignor most members name, ties to the earlier in name order; the
// default when no member names one.
func preferredAssignor(named []string) string {
	votes := map[string]int{}
	for _, n := range named {
		if n != "" {
			votes[n]++
		}
	}
	best := AssignorUniform
	bestVotes := 0
	for n, v := range votes {
		if v > bestVotes || v == bestVotes && cmp.Less(n, best) {
			best, bestVotes = n, v
		}
	}
	return best
}

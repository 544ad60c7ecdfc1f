package kafka

import (
	"context"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-log/strata/metadata"
)

// topicNames maps topic IDs to names and back for the requests that name topics by ID (Fetch
// v13+, OffsetCommit and OffsetFetch v10). It holds the topic list as last read: an ID or a name
// it does not know reloads it — a client names a topic it just created at once, and Java clients
// take seconds to ask again after UNKNOWN_TOPIC_ID — but the same unknown key reloads it at most
// once per topicNamesRetry, and reloads are topicNamesReload apart (a miss waits for its turn),
// so that clients naming deleted topics cannot make every request list the topics. A list older than topicNamesMaxAge is
// reloaded too, so that a topic deleted (and maybe created again under its name) stops resolving
// soon. Fetch checks the ID against the one of the topic the leader leads.
type topicNames struct {
	mu     sync.Mutex
	byID   map[metadata.TopicID]string
	byName map[string]metadata.TopicID
	missed map[any]time.Time // unknown keys (IDs, names) that reloaded the list, and when
	loaded time.Time         // when the list in byID and byName was read
	slot   time.Time         // when the last reload started, or will start
}

const (
	// topicNamesReload bounds how often lookups reload the topic list.
	topicNamesReload = 50 * time.Millisecond
	// topicNamesRetry bounds how often one unknown key reloads it.
	topicNamesRetry = time.Second
	// topicNamesMaxAge is how long a loaded list answers without a reload.
	topicNamesMaxAge = time.Minute
)

// topicLookup runs find on the list, reloading it first when it is old or (then again) when find
// fails for key. The lock is not held while a lookup waits for its turn to reload or reads the
// list: the other lookups go on with the list as it is.
func (s *Server) topicLookup(ctx context.Context, key any, find func(tn *topicNames) bool) bool {
	tn := &s.topicIDs
	tn.mu.Lock()
	if ok := find(tn); ok && time.Since(tn.loaded) < topicNamesMaxAge || time.Since(tn.missed[key]) < topicNamesRetry {
		tn.mu.Unlock()
		return ok
	}
	if tn.missed == nil || len(tn.missed) > 1024 {
		tn.missed = map[any]time.Time{}
	}
	now := time.Now()
	tn.missed[key] = now
	slot := tn.slot.Add(topicNamesReload) // a key not missed before waits for its turn
	if slot.Before(now) {
		slot = now
	}
	tn.slot = slot
	tn.mu.Unlock()

	var topics []metadata.Topic
	err := ctx.Err()
	if wait := time.Until(slot); wait > 0 && err == nil {
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			err = ctx.Err()
		}
	}
	if err == nil {
		topics, err = s.topics.Topics(ctx)
	}
	tn.mu.Lock()
	defer tn.mu.Unlock()
	if err == nil && !slot.Before(tn.loaded) { // a later reload may have finished first
		tn.loaded = slot
		tn.byID = make(map[metadata.TopicID]string, len(topics))
		tn.byName = make(map[string]metadata.TopicID, len(topics))
		for _, t := range topics {
			tn.byID[t.ID], tn.byName[t.Name] = t.Name, t.ID
		}
	}
	return find(tn)
}

// topicName returns the name of the topic with ID id, if there is one.
func (s *Server) topicName(ctx context.Context, id metadata.TopicID) (name string, ok bool) {
	s.topicLookup(ctx, id, func(tn *topicNames) bool {
		name, ok = tn.byID[id]
		return ok
	})
	return name, ok
}

// topicIDOf returns the ID of the topic named name, if there is one.
func (s *Server) topicIDOf(ctx context.Context, name string) (id metadata.TopicID, ok bool) {
	s.topicLookup(ctx, name, func(tn *topicNames) bool {
		id, ok = tn.byName[name]
		return ok
	})
	return id, ok
}

// offsetCommitByID serves OffsetCommit v10+, whose topics are named by ID: an unknown ID answers
// UNKNOWN_TOPIC_ID for its partitions; the others are committed by name and answered by ID.
func (s *Server) offsetCommitByID(ctx context.Context, cc *clientConn, req *kmsg.OffsetCommitRequest) kmsg.Response {
	if req.Version < 10 {
		return s.offsetCommit(ctx, cc, req)
	}
	var unknown []kmsg.OffsetCommitResponseTopic
	ids := map[string][16]byte{}
	kept := req.Topics[:0:0]
	for _, rt := range req.Topics {
		name, ok := s.topicName(ctx, rt.TopicID)
		if !ok {
			st := kmsg.NewOffsetCommitResponseTopic()
			st.TopicID = rt.TopicID
			for _, rp := range rt.Partitions {
				sp := kmsg.NewOffsetCommitResponseTopicPartition()
				sp.Partition, sp.ErrorCode = rp.Partition, kerr.UnknownTopicID.Code
				st.Partitions = append(st.Partitions, sp)
			}
			unknown = append(unknown, st)
			continue
		}
		rt.Topic, ids[name] = name, rt.TopicID
		kept = append(kept, rt)
	}
	req.Topics = kept
	resp := s.offsetCommit(ctx, cc, req).(*kmsg.OffsetCommitResponse)
	for i := range resp.Topics {
		resp.Topics[i].TopicID = ids[resp.Topics[i].Topic]
	}
	resp.Topics = append(resp.Topics, unknown...)
	return resp
}

// offsetFetchByID serves OffsetFetch v10+, whose topics are named by ID: an unknown ID answers
// UNKNOWN_TOPIC_ID for its partitions; the others are read by name and answered by ID. Of a
// group's "all topics" answer, the topics that no longer exist (no ID to name them by) are left
// out.
func (s *Server) offsetFetchByID(ctx context.Context, cc *clientConn, req *kmsg.OffsetFetchRequest) kmsg.Response {
	if req.Version < 10 {
		return s.offsetFetch(ctx, cc, req)
	}
	unknown := map[string][]kmsg.OffsetFetchResponseGroupTopic{}
	for gi := range req.Groups {
		g := &req.Groups[gi]
		if g.Topics == nil {
			continue
		}
		kept := g.Topics[:0:0]
		for _, rt := range g.Topics {
			name, ok := s.topicName(ctx, rt.TopicID)
			if !ok {
				st := kmsg.NewOffsetFetchResponseGroupTopic()
				st.TopicID = rt.TopicID
				for _, p := range rt.Partitions {
					sp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
					sp.Partition, sp.Offset, sp.LeaderEpoch, sp.ErrorCode = p, -1, -1, kerr.UnknownTopicID.Code
					st.Partitions = append(st.Partitions, sp)
				}
				unknown[g.Group] = append(unknown[g.Group], st)
				continue
			}
			rt.Topic = name
			kept = append(kept, rt)
		}
		g.Topics = kept
	}
	resp := s.offsetFetch(ctx, cc, req).(*kmsg.OffsetFetchResponse)
	for gi := range resp.Groups {
		g := &resp.Groups[gi]
		kept := g.Topics[:0]
		for _, t := range g.Topics {
			if id, ok := s.topicIDOf(ctx, t.Topic); ok {
				t.TopicID = id
				kept = append(kept, t)
			}
		}
		g.Topics = append(kept, unknown[g.Group]...)
	}
	return resp
}

package kafka

// Incremental fetch sessions (KIP-227), for Fetch v7 and later.
//
// A consumer of many partitions sends the same long list in every Fetch, and gets every partition
// back, with data or not. With a session, the node keeps the list: the client sends only the
// partitions whose fetch position changed (and those to forget), and the answer holds only the
// partitions with records, an error, or a high watermark, last stable offset or log start that
// changed since they were last answered.
//
//	request (session id, epoch)   meaning                               answer
//	0, -1                         no session: a full fetch              every partition, session id 0
//	any, 0                        open a session with these partitions  every partition, the new id
//	id, -1                        close the session, full fetch         every partition, session id 0
//	id, n > 0                     the session's n-th incremental fetch  the partitions that changed
//
// An unknown id answers FETCH_SESSION_ID_NOT_FOUND and an unexpected epoch
// INVALID_FETCH_SESSION_EPOCH; the client then opens a new session. A session belongs to the
// connection that opened it (one per connection, as a client keeps one per broker connection) and
// ends with it, so no other client can use or guess it, and the node keeps no sessions of clients
// that left. Authorization is checked on every fetch, for every partition of the session.

import (
	"crypto/rand"
	"encoding/binary"
	"math"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-log/strata/metadata"
)

// fetchSessions is a connection's fetch session, if it has one.
type fetchSessions struct {
	mu  sync.Mutex
	cur *fetchSession
}

type fetchSession struct {
	id    int32
	epoch int32 // the epoch the next incremental request must carry
	parts []*sessionPart
	index map[metadata.TopicPartition]int // position in parts
}

// sessionPart is one partition of a session: how the client last asked for it, and what the
// node last answered about it.
type sessionPart struct {
	tp                metadata.TopicPartition
	topicID           [16]byte // as the client named it (v13+)
	req               kmsg.FetchRequestTopicPartition
	answered          bool
	hw, lso, logStart int64
}

// sessionFetch is one request's view of the connection's session.
type sessionFetch struct {
	sess        *fetchSession // nil: sessionless
	incremental bool
}

// begin applies req to the connection's session and returns the full request to serve: req
// itself, or for an incremental fetch every partition of the session. A non-zero code is the
// request's top-level error.
func (fs *fetchSessions) begin(req *kmsg.FetchRequest) (*kmsg.FetchRequest, sessionFetch, int16) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	switch {
	case req.Version < 7 || (req.SessionID == 0 && req.SessionEpoch == -1):
		return req, sessionFetch{}, 0
	case req.SessionEpoch == -1: // close
		fs.cur = nil
		return req, sessionFetch{}, 0
	case req.SessionEpoch == 0: // open (replacing any)
		s := &fetchSession{id: newSessionID(), epoch: 1, index: map[metadata.TopicPartition]int{}}
		s.update(req)
		fs.cur = s
		return req, sessionFetch{sess: s}, 0
	}
	s := fs.cur
	if s == nil || s.id != req.SessionID {
		return nil, sessionFetch{}, kerr.FetchSessionIDNotFound.Code
	}
	if req.SessionEpoch != s.epoch {
		return nil, sessionFetch{}, kerr.InvalidFetchSessionEpoch.Code
	}
	s.epoch++
	if s.epoch == math.MaxInt32 {
		s.epoch = 1
	}
	s.update(req)
	return s.request(req), sessionFetch{sess: s, incremental: true}, 0
}

// update forgets what req's forgotten topics name and adds or updates what it asks for.
func (s *fetchSession) update(req *kmsg.FetchRequest) {
	for _, ft := range req.ForgottenTopics {
		for _, p := range ft.Partitions {
			s.forget(metadata.TopicPartition{Topic: ft.Topic, Partition: p})
		}
	}
	for _, rt := range req.Topics {
		for _, rp := range rt.Partitions {
			tp := metadata.TopicPartition{Topic: rt.Topic, Partition: rp.Partition}
			if i, ok := s.index[tp]; ok {
				s.parts[i].req, s.parts[i].topicID = rp, rt.TopicID
				continue
			}
			s.index[tp] = len(s.parts)
			s.parts = append(s.parts, &sessionPart{tp: tp, topicID: rt.TopicID, req: rp})
		}
	}
}

func (s *fetchSession) forget(tp metadata.TopicPartition) {
	i, ok := s.index[tp]
	if !ok {
		return
	}
	delete(s.index, tp)
	copy(s.parts[i:], s.parts[i+1:])
	s.parts[len(s.parts)-1] = nil
	s.parts = s.parts[:len(s.parts)-1]
	for j := i; j < len(s.parts); j++ {
		s.index[s.parts[j].tp] = j
	}
}

// request is req with every partition of the session, grouped by topic in the session's order.
func (s *fetchSession) request(req *kmsg.FetchRequest) *kmsg.FetchRequest {
	full := *req
	full.Topics, full.ForgottenTopics = nil, nil
	at := map[string]int{}
	for _, p := range s.parts {
		i, ok := at[p.tp.Topic]
		if !ok {
			i = len(full.Topics)
			at[p.tp.Topic] = i
			t := kmsg.NewFetchRequestTopic()
			t.Topic, t.TopicID = p.tp.Topic, p.topicID
			full.Topics = append(full.Topics, t)
		}
		full.Topics[i].Partitions = append(full.Topics[i].Partitions, p.req)
	}
	return &full
}

// finish sets resp's session id and, for an incremental fetch, keeps only the partitions that
// have something new to say; it remembers what was answered.
func (fs *fetchSessions) finish(sf sessionFetch, resp *kmsg.FetchResponse) {
	if sf.sess == nil {
		resp.SessionID = 0
		return
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	s := sf.sess
	resp.SessionID = s.id
	topics := resp.Topics[:0]
	for _, rt := range resp.Topics {
		parts := rt.Partitions[:0]
		for _, rp := range rt.Partitions {
			p := s.part(metadata.TopicPartition{Topic: rt.Topic, Partition: rp.Partition})
			news := p == nil || !p.answered || len(rp.RecordBatches) > 0 || rp.ErrorCode != 0 ||
				rp.HighWatermark != p.hw || rp.LastStableOffset != p.lso || rp.LogStartOffset != p.logStart
			if p != nil && news {
				p.answered, p.hw, p.lso, p.logStart = true, rp.HighWatermark, rp.LastStableOffset, rp.LogStartOffset
			}
			if news || !sf.incremental {
				parts = append(parts, rp)
			}
		}
		if len(parts) > 0 || !sf.incremental {
			rt.Partitions = parts
			topics = append(topics, rt)
		}
	}
	resp.Topics = topics
}

func (s *fetchSession) part(tp metadata.TopicPartition) *sessionPart {
	if i, ok := s.index[tp]; ok {
		return s.parts[i]
	}
	return nil
}

// newSessionID is a random positive session id.
func newSessionID() int32 {
	for {
		var b [4]byte
		_, _ = rand.Read(b[:])
		if id := int32(binary.BigEndian.Uint32(b[:]) & math.MaxInt32); id != 0 {
			return id
		}
	}
}

package kafka

// ShareFetch (key 78), versions 1–2.
//
// KIP-932 queues: a share group's members fetch from the same partitions and each record is
// acquired by one member at a time, under an acquisition lock (share.record.lock.duration.ms,
// default 30 s), until it is acknowledged (accept, release, reject) or the lock expires. The
// share partition state is ingest/group's (share_partition.go); this handler is its driver: it
// keeps the share session (ShareSessionEpoch 0 opens, -1 closes, otherwise each request carries
// the next epoch; a node keeps at most 2,000 sessions, SHARE_SESSION_LIMIT_REACHED past them, as
// Kafka's group.share.max.share.sessions), applies the acknowledgements piggy-backed on the request, reads each session
// partition from the first record it may acquire through the broker's fetch path (so tiered data
// is served too), and answers the batches read with the ranges acquired and their delivery
// counts. Transaction markers are never delivered. With nothing to acquire the request waits up
// to max_wait_ms, woken by appends or, every 100 ms, to look for released or expired records.
//
// Deviations from Apache Kafka: only read_uncommitted (share.isolation.level); acknowledgement
// errors are per partition (INVALID_RECORD_STATE for a batch not held by the member, which then is
// not applied, the partition's other batches are); a share partition's in-flight state lives in
// the leader's memory and its start offset is stored through the offsets role, so a leader move
// redelivers; the member id is not checked against the group's members; v0 (early access) is not
// served.

import (
	"context"
	"encoding/binary"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-log/strata/ingest/broker"
	"github.com/strata-log/strata/ingest/group"
	"github.com/strata-log/strata/metadata"
)

func init() {
	register(api{key: kmsg.ShareFetch.Int16(), minVersion: 1, maxVersion: 2, handle: handleShareFetch})
}

// sharePoll is how often a waiting ShareFetch looks for records released or whose lock expired.
const sharePoll = 100 * time.Millisecond

// sharePartitionReadBytes bounds one partition's read in a ShareFetch.
const sharePartitionReadBytes = 1 << 20

// shareRequest is what ShareFetch and ShareAcknowledge have in common, resolved: the group and
// member, and each named partition with its acknowledgement batches.
type shareRequest struct {
	group, member string
	parts         []sharePart
}

type sharePart struct {
	id      metadata.TopicID
	tp      metadata.TopicPartition
	known   bool // the topic id resolved
	acks    []shareAckBatch
	ackCode int16
	denied  bool
	// fromSession: the request did not name the partition; its session holds it.
	fromSession bool
}

type shareAckBatch struct {
	first, last int64
	types       []int8
}

// applyShareAcks applies each partition's acknowledgements, setting its ackCode.
func (s *Server) applyShareAcks(r *shareRequest) {
	for i := range r.parts {
		p := &r.parts[i]
		if len(p.acks) == 0 {
			continue
		}
		switch {
		case !p.known:
			p.ackCode = kerr.UnknownTopicID.Code
			continue
		case p.denied:
			p.ackCode = kerr.TopicAuthorizationFailed.Code
			continue
		}
		for _, b := range p.acks {
			if c := s.groups.ShareAcknowledge(r.group, r.member, p.tp, b.first, b.last, b.types); c != 0 && p.ackCode == 0 {
				p.ackCode = c
			}
		}
	}
}

// resolveSharePart names a partition given by topic id and checks READ on its topic.
func (s *Server) resolveSharePart(ctx context.Context, cc *clientConn, id [16]byte, partition int32) sharePart {
	p := sharePart{id: metadata.TopicID(id), tp: metadata.TopicPartition{Partition: partition}}
	p.tp.Topic, p.known = s.groups.ShareTopicName(ctx, p.id)
	p.denied = p.known && !s.authorizedTopic(cc, metadata.OpRead, p.tp.Topic)
	return p
}

func handleShareFetch(ctx context.Context, s *Server, cc *clientConn, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.ShareFetchRequest)
	resp := req.ResponseKind().(*kmsg.ShareFetchResponse)
	if req.GroupID == nil || *req.GroupID == "" || req.MemberID == nil || *req.MemberID == "" {
		resp.ErrorCode = kerr.InvalidRequest.Code
		return resp, nil
	}
	if d := s.groupDenied(cc, metadata.OpRead, *req.GroupID, req); d != nil {
		return d, nil
	}
	r := shareRequest{group: *req.GroupID, member: *req.MemberID}
	var add []metadata.TopicPartition
	for _, rt := range req.Topics {
		for _, rp := range rt.Partitions {
			p := s.resolveSharePart(ctx, cc, rt.TopicID, rp.Partition)
			for _, b := range rp.AcknowledgementBatches {
				p.acks = append(p.acks, shareAckBatch{b.FirstOffset, b.LastOffset, b.AcknowledgeTypes})
			}
			r.parts = append(r.parts, p)
			if p.known {
				add = append(add, p.tp)
			}
		}
	}
	var forget []metadata.TopicPartition
	for _, ft := range req.ForgottenTopicsData {
		name, ok := s.groups.ShareTopicName(ctx, metadata.TopicID(ft.TopicID))
		for _, p := range ft.Partitions {
			if ok {
				forget = append(forget, metadata.TopicPartition{Topic: name, Partition: p})
			}
		}
	}
	if req.ShareSessionEpoch == 0 && len(r.parts) > 0 && hasAcks(r.parts) {
		resp.ErrorCode = kerr.InvalidRequest.Code // a new session cannot acknowledge
		return resp, nil
	}
	session, code := s.groups.ShareSession(r.group, r.member, req.ShareSessionEpoch, add, forget, false)
	if code != 0 {
		resp.ErrorCode = code
		return resp, nil
	}
	s.applyShareAcks(&r)
	cfg := s.groups.ShareGroupConfig(r.group)
	resp.AcquisitionLockTimeoutMillis = int32(cfg.LockDuration / time.Millisecond)
	if req.ShareSessionEpoch == -1 {
		s.groups.ShareCloseSession(r.group, r.member)
		resp.Topics = shareFetchTopics(r.parts, nil)
		return resp, nil
	}

	// The partitions to fetch: the session's, each once, resolved.
	byTP := map[metadata.TopicPartition]int{}
	for i, p := range r.parts {
		if p.known {
			byTP[p.tp] = i
		}
	}
	for _, tp := range session {
		if _, ok := byTP[tp]; !ok {
			id, _ := s.groups.ShareTopicID(ctx, tp.Topic)
			p := sharePart{id: id, tp: tp, known: true, fromSession: true, denied: !s.authorizedTopic(cc, metadata.OpRead, tp.Topic)}
			byTP[tp] = len(r.parts)
			r.parts = append(r.parts, p)
		}
	}
	maxBytes := int(s.cfg.FetchMaxBytes)
	if req.MaxBytes > 0 {
		maxBytes = min(maxBytes, int(req.MaxBytes))
	}
	maxRecords := int(req.MaxRecords)
	if maxRecords <= 0 {
		maxRecords = 500
	}
	deadline := time.Now().Add(time.Duration(max(req.MaxWaitMillis, 0)) * time.Millisecond)
	for {
		var changed []<-chan struct{}
		for _, p := range r.parts {
			if ch := s.broker.Changed(p.tp); p.known && ch != nil {
				changed = append(changed, ch)
			}
		}
		results, acquired, errs := s.shareFetchOnce(ctx, r, maxBytes, maxRecords)
		if acquired > 0 || errs || hasAcks(r.parts) || ctx.Err() != nil || !time.Now().Before(deadline) {
			resp.Topics = shareFetchTopics(r.parts, results)
			return resp, nil
		}
		waitAny(ctx, changed, minTime(deadline, time.Now().Add(sharePoll)))
	}
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func hasAcks(parts []sharePart) bool {
	for _, p := range parts {
		if len(p.acks) > 0 {
			return true
		}
	}
	return false
}

// shareResult is one partition's fetch outcome.
type shareResult struct {
	code     int16
	records  []byte
	acquired []group.AcquiredRange
}

// shareFetchOnce reads every fetchable partition of r once and acquires what it may. It returns
// the results by partition index, the records acquired, and whether any partition failed.
func (s *Server) shareFetchOnce(ctx context.Context, r shareRequest, maxBytes, maxRecords int) (map[int]shareResult, int, bool) {
	out := map[int]shareResult{}
	acquired, errs, used := 0, false, 0
	for i, p := range r.parts {
		switch {
		case !p.known:
			out[i], errs = shareResult{code: kerr.UnknownTopicID.Code}, true
			continue
		case p.denied:
			out[i], errs = shareResult{code: kerr.TopicAuthorizationFailed.Code}, true
			continue
		case acquired >= maxRecords || used >= maxBytes:
			continue
		}
		tp := p.tp
		_, hw, err := s.broker.Offsets(ctx, tp)
		if err != nil {
			out[i], errs = shareResult{code: s.code(err, "share fetch", "partition", tp)}, true
			continue
		}
		off, ok, err := s.groups.ShareFetchOffset(ctx, r.group, tp, hw, func(ctx context.Context) (int64, error) {
			start, _, err := s.broker.ListOffset(ctx, tp, -2)
			return start, err
		})
		if err != nil {
			out[i], errs = shareResult{code: s.code(err, "share fetch", "partition", tp)}, true
			continue
		}
		if !ok {
			continue
		}
		res, err := s.broker.Fetch(ctx, tp, off, min(sharePartitionReadBytes, maxBytes-used))
		if err != nil && broker.Code(err) == kerr.OffsetOutOfRange.Code && off < res.LogStartOffset {
			s.groups.ShareTrim(r.group, tp, res.LogStartOffset) // read again on the next pass
			continue
		}
		if err != nil {
			out[i], errs = shareResult{code: s.code(err, "share fetch", "partition", tp)}, true
			continue
		}
		spans, raws := splitBatches(res.Records)
		got := s.groups.ShareAcquire(r.group, r.member, tp, spans, maxRecords-acquired)
		var recs []byte
		for j, sp := range spans {
			if overlaps(sp, got) {
				recs = append(recs, raws[j]...)
			}
		}
		if res.Release != nil {
			res.Release()
		}
		for _, g := range got {
			acquired += int(g.Last - g.First + 1)
		}
		used += len(recs)
		if len(got) > 0 {
			out[i] = shareResult{records: recs, acquired: got}
		}
	}
	return out, acquired, errs
}

func overlaps(sp group.BatchSpan, got []group.AcquiredRange) bool {
	for _, g := range got {
		if g.First <= sp.Last && g.Last >= sp.First {
			return true
		}
	}
	return false
}

// splitBatches cuts stored record batches into their offset spans and bytes. Bytes that do not
// form a whole v2 batch end the list (a read may end mid-batch).
func splitBatches(b []byte) ([]group.BatchSpan, [][]byte) {
	var spans []group.BatchSpan
	var raws [][]byte
	for len(b) >= 61 {
		length := int(int32(binary.BigEndian.Uint32(b[8:12])))
		if length < 49 || 12+length > len(b) || b[16] != 2 {
			break
		}
		var rb kmsg.RecordBatch
		if err := rb.ReadFrom(b[:12+length]); err != nil {
			break
		}
		spans = append(spans, group.BatchSpan{First: rb.FirstOffset, Last: rb.FirstOffset + int64(rb.LastOffsetDelta), Control: rb.Attributes&0x20 != 0})
		raws = append(raws, b[:12+length])
		b = b[12+length:]
	}
	return spans, raws
}

// shareFetchTopics builds the response topics: every partition the request named (with its
// acknowledgement result) and every partition with records or an error.
func shareFetchTopics(parts []sharePart, results map[int]shareResult) []kmsg.ShareFetchResponseTopic {
	var topics []kmsg.ShareFetchResponseTopic
	idx := map[metadata.TopicID]int{}
	for i, p := range parts {
		res, ok := results[i]
		if !ok && i >= namedParts(parts) {
			continue
		}
		ti, seen := idx[p.id]
		if !seen {
			ti = len(topics)
			idx[p.id] = ti
			t := kmsg.NewShareFetchResponseTopic()
			t.TopicID = [16]byte(p.id)
			topics = append(topics, t)
		}
		sp := kmsg.NewShareFetchResponseTopicPartition()
		sp.Partition, sp.ErrorCode, sp.AcknowledgeErrorCode = p.tp.Partition, res.code, p.ackCode
		sp.CurrentLeader.LeaderID, sp.CurrentLeader.LeaderEpoch = -1, -1
		// Never null: Kafka's schema has it non-nullable, and its Java client fails on a null.
		sp.Records = res.records
		if sp.Records == nil {
			sp.Records = []byte{}
		}
		for _, a := range res.acquired {
			ar := kmsg.NewShareFetchResponseTopicPartitionAcquiredRecord()
			ar.FirstOffset, ar.LastOffset, ar.DeliveryCount = a.First, a.Last, a.DeliveryCount
			sp.AcquiredRecords = append(sp.AcquiredRecords, ar)
		}
		topics[ti].Partitions = append(topics[ti].Partitions, sp)
	}
	return topics
}

// namedParts counts the leading parts that the request itself named (the rest came from the
// session).
func namedParts(parts []sharePart) int {
	for i, p := range parts {
		if p.fromSession {
			return i
		}
	}
	return len(parts)
}

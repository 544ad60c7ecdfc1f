package kafka

// ShareAcknowledge (key 79), versions 1–2.
//
// Acknowledges records a share group member acquired through ShareFetch (accept, release,
// reject; renew on v2 extends the lock), within the member's share session: the request carries
// the session's next epoch, or -1 to close it, which also releases every record the member still
// holds. Served by the same share partition state as ShareFetch (78_share_fetch.go).
//
// Deviations from Apache Kafka: as ShareFetch's (acknowledgement errors are per partition; v0 is
// not served).

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-log/strata/metadata"
)

func init() {
	register(api{key: kmsg.ShareAcknowledge.Int16(), minVersion: 1, maxVersion: 2, handle: handleShareAcknowledge})
}

func handleShareAcknowledge(ctx context.Context, s *Server, cc *clientConn, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.ShareAcknowledgeRequest)
	resp := req.ResponseKind().(*kmsg.ShareAcknowledgeResponse)
	if req.GroupID == nil || *req.GroupID == "" || req.MemberID == nil || *req.MemberID == "" {
		resp.ErrorCode = kerr.InvalidRequest.Code
		return resp, nil
	}
	if d := s.groupDenied(cc, metadata.OpRead, *req.GroupID, req); d != nil {
		return d, nil
	}
	r := shareRequest{group: *req.GroupID, member: *req.MemberID}
	for _, rt := range req.Topics {
		for _, rp := range rt.Partitions {
			p := s.resolveSharePart(ctx, cc, rt.TopicID, rp.Partition)
			for _, b := range rp.AcknowledgementBatches {
				p.acks = append(p.acks, shareAckBatch{b.FirstOffset, b.LastOffset, b.AcknowledgeTypes})
			}
			r.parts = append(r.parts, p)
		}
	}
	if _, code := s.groups.ShareSession(r.group, r.member, req.ShareSessionEpoch, nil, nil, true); code != 0 {
		resp.ErrorCode = code
		return resp, nil
	}
	s.applyShareAcks(&r)
	if req.ShareSessionEpoch == -1 {
		s.groups.ShareCloseSession(r.group, r.member)
	}
	resp.AcquisitionLockTimeoutMillis = int32(s.groups.ShareGroupConfig(r.group).LockDuration / time.Millisecond)
	idx := map[metadata.TopicID]int{}
	for _, p := range r.parts {
		ti, seen := idx[p.id]
		if !seen {
			ti = len(resp.Topics)
			idx[p.id] = ti
			t := kmsg.NewShareAcknowledgeResponseTopic()
			t.TopicID = [16]byte(p.id)
			resp.Topics = append(resp.Topics, t)
		}
		sp := kmsg.NewShareAcknowledgeResponseTopicPartition()
		sp.Partition, sp.ErrorCode = p.tp.Partition, p.ackCode
		sp.CurrentLeader.LeaderID, sp.CurrentLeader.LeaderEpoch = -1, -1
		resp.Topics[ti].Partitions = append(resp.Topics[ti].Partitions, sp)
	}
	return resp, nil
}

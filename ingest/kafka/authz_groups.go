package kafka

// Authorization of the group and transaction APIs whose answers the group coordinator builds:
// the checks Kafka makes before (group, transactional id) and around (topics) the coordinator's
// work. Each function is the handler's whole body when an authorizer is set; without one it
// calls the coordinator as before.

import (
	"context"
	"reflect"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-log/strata/metadata"
)

// deniedAnswer is req's response with its top-level ErrorCode set to code (every response this
// is used for has one).
func deniedAnswer(req kmsg.Request, code int16) kmsg.Response {
	resp := req.ResponseKind()
	reflect.ValueOf(resp).Elem().FieldByName("ErrorCode").SetInt(int64(code))
	return resp
}

// groupDenied is the GROUP_AUTHORIZATION_FAILED answer to req when cc may not perform op on
// group, else nil.
func (s *Server) groupDenied(cc *clientConn, op metadata.ACLOperation, group string, req kmsg.Request) kmsg.Response {
	if s.authorizedGroup(cc, op, group) {
		return nil
	}
	return deniedAnswer(req, kerr.GroupAuthorizationFailed.Code)
}

// txnIDDenied is the TRANSACTIONAL_ID_AUTHORIZATION_FAILED answer to req when cc may not WRITE
// transactional id, else nil.
func (s *Server) txnIDDenied(cc *clientConn, id string, req kmsg.Request) kmsg.Response {
	if s.authorizedTxnID(cc, metadata.OpWrite, id) {
		return nil
	}
	return deniedAnswer(req, kerr.TransactionalIDAuthorizationFailed.Code)
}

// offsetCommit needs READ on the group (GROUP_AUTHORIZATION_FAILED for every partition) and on
// each topic (TOPIC_AUTHORIZATION_FAILED for its partitions; the others are committed).
func (s *Server) offsetCommit(ctx context.Context, cc *clientConn, req *kmsg.OffsetCommitRequest) kmsg.Response {
	if s.cfg.Authorizer == nil {
		return s.groups.OffsetCommit(ctx, req)
	}
	groupOK := s.authorizedGroup(cc, metadata.OpRead, req.Group)
	var denied []kmsg.OffsetCommitResponseTopic
	kept := req.Topics[:0:0]
	for _, rt := range req.Topics {
		code := int16(0)
		switch {
		case !groupOK:
			code = kerr.GroupAuthorizationFailed.Code
		case !s.authorizedTopic(cc, metadata.OpRead, rt.Topic):
			code = kerr.TopicAuthorizationFailed.Code
		default:
			kept = append(kept, rt)
			continue
		}
		st := kmsg.NewOffsetCommitResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewOffsetCommitResponseTopicPartition()
			sp.Partition, sp.ErrorCode = rp.Partition, code
			st.Partitions = append(st.Partitions, sp)
		}
		denied = append(denied, st)
	}
	resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
	if len(kept) > 0 || len(denied) == 0 {
		req.Topics = kept
		resp = s.groups.OffsetCommit(ctx, req)
	}
	resp.Topics = append(resp.Topics, denied...)
	return resp
}

// offsetFetch needs DESCRIBE on each group (GROUP_AUTHORIZATION_FAILED for it) and on each topic
// answered: a topic asked for by name answers TOPIC_AUTHORIZATION_FAILED, one the answer for
// "all topics" would list is left out, as in Kafka.
func (s *Server) offsetFetch(ctx context.Context, cc *clientConn, req *kmsg.OffsetFetchRequest) kmsg.Response {
	if s.cfg.Authorizer == nil {
		return s.groups.OffsetFetch(ctx, req)
	}
	if req.Version < 8 {
		if resp := s.groupDenied(cc, metadata.OpDescribe, req.Group, req); resp != nil {
			return resp
		}
		resp := s.groups.OffsetFetch(ctx, req)
		kept := resp.Topics[:0]
		for _, t := range resp.Topics {
			if !s.authorizedTopic(cc, metadata.OpDescribe, t.Topic) {
				if req.Topics == nil {
					continue
				}
				for i := range t.Partitions {
					p := &t.Partitions[i]
					p.Offset, p.LeaderEpoch, p.Metadata, p.ErrorCode = -1, -1, nil, kerr.TopicAuthorizationFailed.Code
				}
			}
			kept = append(kept, t)
		}
		resp.Topics = kept
		return resp
	}
	resp := s.groups.OffsetFetch(ctx, req)
	all := map[string]bool{}
	for _, g := range req.Groups {
		all[g.Group] = g.Topics == nil
	}
	for gi := range resp.Groups {
		g := &resp.Groups[gi]
		if !s.authorizedGroup(cc, metadata.OpDescribe, g.Group) {
			g.Topics, g.ErrorCode = nil, kerr.GroupAuthorizationFailed.Code
			continue
		}
		kept := g.Topics[:0]
		for _, t := range g.Topics {
			if !s.authorizedTopic(cc, metadata.OpDescribe, t.Topic) {
				if all[g.Group] {
					continue
				}
				for i := range t.Partitions {
					p := &t.Partitions[i]
					p.Offset, p.LeaderEpoch, p.Metadata, p.ErrorCode = -1, -1, nil, kerr.TopicAuthorizationFailed.Code
				}
			}
			kept = append(kept, t)
		}
		g.Topics = kept
	}
	return resp
}

// describeGroups needs DESCRIBE on each group (GROUP_AUTHORIZATION_FAILED, nothing else told).
func (s *Server) describeGroups(ctx context.Context, cc *clientConn, req *kmsg.DescribeGroupsRequest) kmsg.Response {
	resp := s.groups.DescribeGroups(ctx, req)
	if s.cfg.Authorizer == nil {
		return resp
	}
	for i, g := range resp.Groups {
		if !s.authorizedGroup(cc, metadata.OpDescribe, g.Group) {
			d := kmsg.NewDescribeGroupsResponseGroup()
			d.Group, d.ErrorCode = g.Group, kerr.GroupAuthorizationFailed.Code
			resp.Groups[i] = d
			continue
		}
		if req.IncludeAuthorizedOperations {
			resp.Groups[i].AuthorizedOperations, _ = s.authorizedOps(cc, metadata.ResourceGroup, g.Group)
		}
	}
	return resp
}

// listGroups lists every group with DESCRIBE on the cluster, else the groups cc may DESCRIBE.
func (s *Server) listGroups(ctx context.Context, cc *clientConn, req *kmsg.ListGroupsRequest) kmsg.Response {
	resp := s.groups.ListGroups(ctx, req)
	if s.cfg.Authorizer == nil || s.clusterAllows(cc, metadata.OpDescribe) {
		return resp
	}
	kept := resp.Groups[:0]
	for _, g := range resp.Groups {
		if s.authorizedGroup(cc, metadata.OpDescribe, g.Group) {
			kept = append(kept, g)
		}
	}
	resp.Groups = kept
	return resp
}

// deleteGroups needs DELETE on each group (GROUP_AUTHORIZATION_FAILED; the others are deleted).
func (s *Server) deleteGroups(ctx context.Context, cc *clientConn, req *kmsg.DeleteGroupsRequest) kmsg.Response {
	if s.cfg.Authorizer == nil {
		return s.groups.DeleteGroups(ctx, req)
	}
	var denied []kmsg.DeleteGroupsResponseGroup
	kept := req.Groups[:0:0]
	for _, g := range req.Groups {
		if s.authorizedGroup(cc, metadata.OpDelete, g) {
			kept = append(kept, g)
			continue
		}
		d := kmsg.NewDeleteGroupsResponseGroup()
		d.Group, d.ErrorCode = g, kerr.GroupAuthorizationFailed.Code
		denied = append(denied, d)
	}
	resp := req.ResponseKind().(*kmsg.DeleteGroupsResponse)
	if len(kept) > 0 {
		req.Groups = kept
		resp = s.groups.DeleteGroups(ctx, req)
	}
	resp.Groups = append(resp.Groups, denied...)
	return resp
}

// offsetDelete needs DELETE on the group (a top-level GROUP_AUTHORIZATION_FAILED) and READ on
// each topic (TOPIC_AUTHORIZATION_FAILED for its partitions).
func (s *Server) offsetDelete(ctx context.Context, cc *clientConn, req *kmsg.OffsetDeleteRequest) kmsg.Response {
	if s.cfg.Authorizer == nil {
		return s.groups.OffsetDelete(ctx, req)
	}
	if resp := s.groupDenied(cc, metadata.OpDelete, req.Group, req); resp != nil {
		return resp
	}
	var denied []kmsg.OffsetDeleteResponseTopic
	kept := req.Topics[:0:0]
	for _, rt := range req.Topics {
		if s.authorizedTopic(cc, metadata.OpRead, rt.Topic) {
			kept = append(kept, rt)
			continue
		}
		st := kmsg.NewOffsetDeleteResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewOffsetDeleteResponseTopicPartition()
			sp.Partition, sp.ErrorCode = rp.Partition, kerr.TopicAuthorizationFailed.Code
			st.Partitions = append(st.Partitions, sp)
		}
		denied = append(denied, st)
	}
	resp := req.ResponseKind().(*kmsg.OffsetDeleteResponse)
	if len(kept) > 0 || len(denied) == 0 {
		req.Topics = kept
		resp = s.groups.OffsetDelete(ctx, req)
	}
	resp.Topics = append(resp.Topics, denied...)
	return resp
}

// txnOffsetCommitDenied checks a TxnOffsetCommit as Kafka does. Without WRITE on the
// transactional id (TRANSACTIONAL_ID_AUTHORIZATION_FAILED) or READ on the group
// (GROUP_AUTHORIZATION_FAILED) every partition carries the code and the answer is all. Else the
// topics without READ are taken out of req and returned as TOPIC_AUTHORIZATION_FAILED answers
// to add to the response; when none is left, all is the answer.
func (s *Server) txnOffsetCommitDenied(cc *clientConn, req *kmsg.TxnOffsetCommitRequest) (all *kmsg.TxnOffsetCommitResponse, denied []kmsg.TxnOffsetCommitResponseTopic) {
	if s.cfg.Authorizer == nil {
		return nil, nil
	}
	code := int16(0)
	switch {
	case !s.authorizedTxnID(cc, metadata.OpWrite, req.TransactionalID):
		code = kerr.TransactionalIDAuthorizationFailed.Code
	case !s.authorizedGroup(cc, metadata.OpRead, req.Group):
		code = kerr.GroupAuthorizationFailed.Code
	}
	kept := req.Topics[:0:0]
	for _, rt := range req.Topics {
		c := code
		if c == 0 && !s.authorizedTopic(cc, metadata.OpRead, rt.Topic) {
			c = kerr.TopicAuthorizationFailed.Code
		}
		if c == 0 {
			kept = append(kept, rt)
			continue
		}
		st := kmsg.NewTxnOffsetCommitResponseTopic()
		st.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			sp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
			sp.Partition, sp.ErrorCode = rp.Partition, c
			st.Partitions = append(st.Partitions, sp)
		}
		denied = append(denied, st)
	}
	if len(denied) > 0 && len(kept) == 0 {
		all = req.ResponseKind().(*kmsg.TxnOffsetCommitResponse)
		all.Topics = denied
		return all, nil
	}
	req.Topics = kept
	return nil, denied
}

// addPartitionsDenied is Kafka's check for AddPartitionsToTxn (v0–3): without WRITE on the
// transactional id every partition answers TRANSACTIONAL_ID_AUTHORIZATION_FAILED; else, when
// some topic lacks WRITE, its partitions answer TOPIC_AUTHORIZATION_FAILED and the others
// OPERATION_NOT_ATTEMPTED. Nil: allowed.
func (s *Server) addPartitionsDenied(cc *clientConn, id string, tps []metadata.TopicPartition) map[metadata.TopicPartition]int16 {
	if s.cfg.Authorizer == nil {
		return nil
	}
	codes := make(map[metadata.TopicPartition]int16, len(tps))
	if !s.authorizedTxnID(cc, metadata.OpWrite, id) {
		for _, tp := range tps {
			codes[tp] = kerr.TransactionalIDAuthorizationFailed.Code
		}
		return codes
	}
	denied := map[string]bool{}
	for _, tp := range tps {
		if _, seen := denied[tp.Topic]; !seen {
			denied[tp.Topic] = !s.authorizedTopic(cc, metadata.OpWrite, tp.Topic)
		}
	}
	anyDenied := false
	for _, tp := range tps {
		codes[tp] = kerr.OperationNotAttempted.Code
		if denied[tp.Topic] {
			codes[tp], anyDenied = kerr.TopicAuthorizationFailed.Code, true
		}
	}
	if !anyDenied {
		return nil
	}
	return codes
}

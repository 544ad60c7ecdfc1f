package kafka

// ListTransactions (key 66), versions 0–2.
//
// Lists the transactional ids this node coordinates, filtered by state names, producer ids,
// (v1) a minimum running time of the ongoing transaction and (v2, KIP-1152) a regular expression
// the whole id must match, as Kafka's coordinators each list theirs (admin clients ask every
// node). An unknown state name in the filter is listed in UnknownStateFilters; a pattern that
// does not compile answers INVALID_REGULAR_EXPRESSION. Served only with a transaction
// coordinator.
//
// Deviations from Apache Kafka: the pattern is RE2 (Go's regexp), not a Java regular expression:
// the common syntax is the same, but lookarounds and backreferences are refused.

import (
	"context"
	"regexp"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-log/strata/metadata"
)

func init() {
	registerTxn(api{key: kmsg.ListTransactions.Int16(), minVersion: 0, maxVersion: 2, handle: handleListTransactions})
}

func handleListTransactions(ctx context.Context, s *Server, cc *clientConn, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.ListTransactionsRequest)
	resp := req.ResponseKind().(*kmsg.ListTransactionsResponse)
	known := map[string]bool{}
	for st := metadata.TxnEmpty; st <= metadata.TxnCompleteAbort; st++ {
		known[st.String()] = true
	}
	for _, f := range req.StateFilters {
		if !known[f] {
			resp.UnknownStateFilters = append(resp.UnknownStateFilters, f)
		}
	}
	var pattern *regexp.Regexp
	if p := req.TransactionalIDPattern; req.Version >= 2 && p != nil && *p != "" {
		var err error
		if pattern, err = regexp.Compile("^(?:" + *p + ")$"); err != nil {
			resp.ErrorCode = kerr.InvalidRegularExpression.Code
			return resp, nil
		}
	}
	ts, err := s.cfg.Transactions.List(ctx)
	if err != nil {
		resp.ErrorCode = s.txnCode(err, "list transactions")
		return resp, nil
	}
	now := time.Now()
	for _, t := range ts {
		switch {
		case !s.cfg.Transactions.IsCoordinator(t.ID):
		case !s.authorizedTxnID(cc, metadata.OpDescribe, t.ID):
		case len(req.StateFilters) > 0 && !slices.Contains(req.StateFilters, t.State.String()):
		case len(req.ProducerIDFilters) > 0 && !slices.Contains(req.ProducerIDFilters, t.ProducerID):
		case pattern != nil && !pattern.MatchString(t.ID):
		case req.Version >= 1 && req.DurationFilterMillis >= 0 &&
			(t.State != metadata.TxnOngoing || now.Sub(t.StartedAt).Milliseconds() < req.DurationFilterMillis):
		default:
			lt := kmsg.NewListTransactionsResponseTransactionState()
			lt.TransactionalID, lt.ProducerID, lt.TransactionState = t.ID, t.ProducerID, t.State.String()
			resp.TransactionStates = append(resp.TransactionStates, lt)
		}
	}
	return resp, nil
}

package kafka

import (
	"github.com/twmb/franz-go/pkg/kerr"
)

// txnCode maps a transaction coordinator error to the code a client acts on: the Kafka error it
// carries, else COORDINATOR_NOT_AVAILABLE (the metadata service failed; clients retry), never
// UNKNOWN_SERVER_ERROR.
func (s *Server) txnCode(err error, what string, args ...any) int16 {
	c := s.code(err, what, args...)
	if c == kerr.UnknownServerError.Code {
		return kerr.CoordinatorNotAvailable.Code
	}
	return c
}

// notTxnCoordinator is NOT_COORDINATOR when this node does not coordinate transactional id, else 0.
func (s *Server) notTxnCoordinator(id string) int16 {
	if !s.cfg.Transactions.IsCoordinator(id) {
		return kerr.NotCoordinator.Code
	}
	return 0
}

// fencedForVersion answers INVALID_PRODUCER_EPOCH instead of PRODUCER_FENCED to request versions
// older than since, which predate that code (KIP-588), as Kafka does.
func fencedForVersion(code, version, since int16) int16 {
	if code == kerr.ProducerFenced.Code && version < since {
		return kerr.InvalidProducerEpoch.Code
	}
	return code
}

package kafka

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// api describes one Kafka API this broker serves. Each NN_name.go file registers exactly one in its
// init function; ApiVersions advertises exactly what is registered.
type api struct {
	key        int16
	minVersion int16
	maxVersion int16
	// tv2From, when set, is the first version served only under transaction.version 2 (KIP-890
	// part 2): below that the API is served up to tv2From-1 (versioned).
	tv2From int16
	// handle answers one decoded request. A nil response means no response is sent (Produce with
	// acks=0). An error closes the connection; protocol-level failures are kerr codes in the response.
	handle func(ctx context.Context, s *Server, cc *clientConn, req kmsg.Request) (kmsg.Response, error)
}

var apis = map[int16]api{}

// saslAPIs are served and advertised only by a Server with SASL enabled (Config.SASL); without it
// their keys get the "unsupported" answers of unsupported.go, as before.
var saslAPIs = map[int16]api{}

func registerSASL(a api) { registerIn(saslAPIs, a) }

// txnAPIs are served and advertised only by a Server with a transaction coordinator
// (Config.Transactions).
var txnAPIs = map[int16]api{}

func registerTxn(a api) { registerIn(txnAPIs, a) }

// txnVersion is the transaction.version s serves: 0 without a transaction coordinator.
func (s *Server) txnVersion() int8 {
	if s.cfg.Transactions == nil {
		return 0
	}
	return s.cfg.Transactions.TransactionVersion()
}

// versioned is a with the versions s serves of it.
func (s *Server) versioned(a api) api {
	if a.tv2From > 0 && s.txnVersion() < 2 {
		a.maxVersion = min(a.maxVersion, a.tv2From-1)
	}
	return a
}

// lookupAPI is the API s serves under key.
func (s *Server) lookupAPI(key int16) (api, bool) {
	if a, ok := apis[key]; ok {
		return s.versioned(a), true
	}
	if a, ok := txnAPIs[key]; ok && s.cfg.Transactions != nil {
		return s.versioned(a), true
	}
	if s.cfg.SASL != nil {
		a, ok := saslAPIs[key]
		return a, ok
	}
	return api{}, false
}

func register(a api) { registerIn(apis, a) }

// registerIn adds a to m (apis or saslAPIs); a key registered twice, in either, is a programming
// error.
func registerIn(m map[int16]api, a api) {
	_, inAPIs := apis[a.key]
	_, inSASL := saslAPIs[a.key]
	_, inTxn := txnAPIs[a.key]
	if inAPIs || inSASL || inTxn {
		panic("kafka: api registered twice: " + kmsg.NameForKey(a.key))
	}
	m[a.key] = a
}

// Server and clientConn are defined by the listener (server.go, conn.go).

package kafka

// SaslHandshake (key 17), versions 0–1.
//
// KIP-43, served only when Config.SASL is set. Mechanisms: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512,
// always listed in the answer. An unknown mechanism gets UNSUPPORTED_SASL_MECHANISM and a second
// handshake ILLEGAL_SASL_STATE; either closes the connection once answered, as in Apache Kafka.
// After v0 the client sends bare tokens (see sasl_conn.go); after v1 it sends SaslAuthenticate
// requests. Without SASL the key is answered by unsupported.go.
//
// No deviations from Apache Kafka.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	registerSASL(api{key: kmsg.SASLHandshake.Int16(), minVersion: 0, maxVersion: 1, handle: handleSASLHandshake})
}

func handleSASLHandshake(_ context.Context, _ *Server, cc *clientConn, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.SASLHandshakeRequest)
	resp := req.ResponseKind().(*kmsg.SASLHandshakeResponse)
	resp.SupportedMechanisms = cc.auth.creds.mechanisms()
	resp.ErrorCode = cc.auth.handshake(req.Mechanism, req.GetVersion())
	return resp, nil
}

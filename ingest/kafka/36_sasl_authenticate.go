package kafka

// SaslAuthenticate (key 36), versions 0–2.
//
// KIP-152, served only when Config.SASL is set. Carries one step of the mechanism chosen by
// SaslHandshake v1. A failed step answers SASL_AUTHENTICATION_FAILED with a message (the same for
// an unknown user and a wrong password) and closes the connection; SaslAuthenticate before a
// handshake answers ILLEGAL_SASL_STATE and closes.
//
// Deviations from Apache Kafka: no re-authentication (KIP-368): SessionLifetimeMillis is 0 and a
// second authentication on an authenticated connection answers ILLEGAL_SASL_STATE.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	registerSASL(api{key: kmsg.SASLAuthenticate.Int16(), minVersion: 0, maxVersion: 2, handle: handleSASLAuthenticate})
}

func handleSASLAuthenticate(_ context.Context, _ *Server, cc *clientConn, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.SASLAuthenticateRequest)
	resp := req.ResponseKind().(*kmsg.SASLAuthenticateResponse)
	out, code, msg := cc.auth.authenticate(req.SASLAuthBytes)
	resp.ErrorCode = code
	if code != 0 {
		resp.ErrorMessage = &msg
		cc.log.Info("kafka: SASL authentication failed", "err", msg)
		return resp, nil
	}
	resp.SASLAuthBytes = out
	return resp, nil
}

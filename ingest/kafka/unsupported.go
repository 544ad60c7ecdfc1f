package kafka

import (
	"fmt"
	"reflect"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// unsupportedAnswer answers a well-formed request for an API or version this broker does not
// advertise, so that the client gets an error instead of a dropped connection where the response
// shape allows it:
//
//   - SaslHandshake: UNSUPPORTED_SASL_MECHANISM with an empty mechanism list (no SASL here).
//   - SaslAuthenticate: ILLEGAL_SASL_STATE (no handshake can have succeeded).
//   - any other response with a top-level ErrorCode (EndTxn, AddOffsetsToTxn, AddPartitionsToTxn
//     v4+, the ACL and quota APIs, ...): UNSUPPORTED_VERSION there.
//
// Responses without a top-level error code (per-partition errors only) cannot say "unsupported"
// faithfully; the connection is closed, as Apache Kafka does for an unsupported version.
func unsupportedAnswer(req kmsg.Request) (kmsg.Response, error) {
	resp := req.ResponseKind()
	switch r := resp.(type) {
	case *kmsg.SASLHandshakeResponse:
		r.ErrorCode = kerr.UnsupportedSaslMechanism.Code
		r.SupportedMechanisms = []string{}
		return r, nil
	case *kmsg.SASLAuthenticateResponse:
		r.ErrorCode = kerr.IllegalSaslState.Code
		msg := "SASL is not enabled on this listener"
		r.ErrorMessage = &msg
		return r, nil
	}
	v := reflect.ValueOf(resp)
	if v.Kind() == reflect.Pointer && v.Elem().Kind() == reflect.Struct {
		if f := v.Elem().FieldByName("ErrorCode"); f.IsValid() && f.CanSet() && f.Kind() == reflect.Int16 {
			f.SetInt(int64(kerr.UnsupportedVersion.Code))
			return resp, nil
		}
	}
	return nil, fmt.Errorf("%w: %s v%d is not served", errUnknownAPI, kmsg.NameForKey(req.Key()), req.GetVersion())
}

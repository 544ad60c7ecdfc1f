package kafka

// ApiVersions (key 18), versions 0–4.
//
// The answer lists exactly the APIs registered in this package (see api.go). A request for a
// version above 4 is answered, without parsing its body, by a v0 response carrying
// UNSUPPORTED_VERSION and the version list (KIP-511), so that the client can retry with a version
// both sides know.
//
// Deviations from Apache Kafka: no supported or finalized features are reported.

import (
	"context"
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	register(api{key: kmsg.ApiVersions.Int16(), minVersion: 0, maxVersion: 4, handle: handleApiVersions})
}

func handleApiVersions(_ context.Context, s *Server, _ *clientConn, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.ApiVersionsRequest)
	resp := req.ResponseKind().(*kmsg.ApiVersionsResponse)
	resp.ApiKeys = advertisedAPIs(s)
	return resp, nil
}

// unsupportedApiVersions is the v0 answer to an ApiVersions version this broker does not know.
func unsupportedApiVersions(s *Server) kmsg.Response {
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.SetVersion(0)
	resp.ErrorCode = kerr.UnsupportedVersion.Code
	resp.ApiKeys = advertisedAPIs(s)
	return resp
}

// advertisedAPIs lists the APIs s serves ordered by key: the registered ones, plus SaslHandshake
// and SaslAuthenticate when SASL is enabled and the transaction APIs with a transaction
// coordinator.
func advertisedAPIs(s *Server) []kmsg.ApiVersionsResponseApiKey {
	keys := make([]kmsg.ApiVersionsResponseApiKey, 0, len(apis)+len(saslAPIs))
	add := func(a api) {
		k := kmsg.NewApiVersionsResponseApiKey()
		k.ApiKey, k.MinVersion, k.MaxVersion = a.key, a.minVersion, a.maxVersion
		keys = append(keys, k)
	}
	for _, a := range apis {
		add(a)
	}
	if s.cfg.SASL != nil {
		for _, a := range saslAPIs {
			add(a)
		}
	}
	if s.cfg.Transactions != nil {
		for _, a := range txnAPIs {
			add(a)
		}
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].ApiKey < keys[j].ApiKey })
	return keys
}

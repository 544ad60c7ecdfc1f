package kafka

// ApiVersions, key 18, versions 0–4.
//
// The answer lists exactly the APIs registered in this package (see api.go). Deviations from
// Apache Kafka: no supported or finalized features are reported. A request for a version above 4
// is answered, without parsing its body, by a v0 response carrying UNSUPPORTED_VERSION and the
// version list (KIP-511), so that the client can retry with a version both sides know.

import (
	"context"
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	register(api{key: apiVersionsKey, minVersion: 0, maxVersion: 4, handle: handleApiVersions})
}

func handleApiVersions(_ context.Context, _ *Server, _ *clientConn, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.ApiVersionsRequest)
	resp := req.ResponseKind().(*kmsg.ApiVersionsResponse)
	resp.ApiKeys = advertisedAPIs()
	return resp, nil
}

// unsupportedApiVersions is the v0 answer to an ApiVersions version this broker does not know.
func unsupportedApiVersions() kmsg.Response {
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.SetVersion(0)
	resp.ErrorCode = kerr.UnsupportedVersion.Code
	resp.ApiKeys = advertisedAPIs()
	return resp
}

// advertisedAPIs lists the registered APIs ordered by key.
func advertisedAPIs() []kmsg.ApiVersionsResponseApiKey {
	keys := make([]kmsg.ApiVersionsResponseApiKey, 0, len(apis))
	for _, a := range apis {
		k := kmsg.NewApiVersionsResponseApiKey()
		k.ApiKey, k.MinVersion, k.MaxVersion = a.key, a.minVersion, a.maxVersion
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].ApiKey < keys[j].ApiKey })
	return keys
}

package kafka

// ApiVersions (key 18), versions 0–4.
//
// The answer lists exactly the APIs registered in this package (see api.go). A request for a
// version above 4 is answered, without parsing its body, by a v0 response carrying
// UNSUPPORTED_VERSION and the version list (KIP-511), so that the client can retry with a version
// both sides know.
//
// With a transaction coordinator, v3+ reports the feature transaction.version: supported 0–2 and
// finalized at the coordinator's level (txn.Config.TransactionVersion; 2 enables KIP-890 part 2,
// which clients such as franz-go and the Java client 4.x switch to). Versions of Produce, EndTxn
// and TxnOffsetCommit that belong to part 2 are advertised only at level 2.
//
// Deviations from Apache Kafka: no other feature (metadata.version, group.version, ...) is
// reported; the finalized features' epoch is a constant, as the level changes only with a restart.

import (
	"context"
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-log/strata/ingest/txn"
)

func init() {
	register(api{key: kmsg.ApiVersions.Int16(), minVersion: 0, maxVersion: 4, handle: handleApiVersions})
}

func handleApiVersions(_ context.Context, s *Server, _ *clientConn, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.ApiVersionsRequest)
	resp := req.ResponseKind().(*kmsg.ApiVersionsResponse)
	resp.ApiKeys = advertisedAPIs(s)
	if s.cfg.Transactions != nil && req.Version >= 3 {
		sf := kmsg.NewApiVersionsResponseSupportedFeature()
		sf.Name, sf.MinVersion, sf.MaxVersion = txnVersionFeature, 0, txn.MaxTransactionVersion
		resp.SupportedFeatures = append(resp.SupportedFeatures, sf)
		ff := kmsg.NewApiVersionsResponseFinalizedFeature()
		ff.Name = txnVersionFeature
		ff.MinVersionLevel, ff.MaxVersionLevel = int16(s.txnVersion()), int16(s.txnVersion())
		resp.FinalizedFeatures = append(resp.FinalizedFeatures, ff)
		resp.FinalizedFeaturesEpoch = finalizedFeaturesEpoch
	}
	return resp, nil
}

// txnVersionFeature is the feature naming the transaction protocol's version (KIP-890).
const txnVersionFeature = "transaction.version"

// finalizedFeaturesEpoch is the epoch of the finalized features: they change only with a restart.
const finalizedFeaturesEpoch = 1

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
		a = s.versioned(a)
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

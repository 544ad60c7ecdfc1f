package group

import (
	"context"
	"testing"

	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/metadata/natsmeta"
)

// The coordinator's offset and admin tests also run on the real metadata store: NATS JetStream KV
// in an embedded server.
func init() {
	storeFactories["natsmeta"] = func(t testing.TB) metadata.Store {
		srv, err := natsmeta.StartEmbedded(natsmeta.EmbeddedConfig{Dir: t.TempDir()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(srv.Shutdown)
		s, err := natsmeta.Open(context.Background(), natsmeta.Config{URLs: []string{srv.ClientURL()}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
}

// Package natsmetatest starts real embedded NATS JetStream servers and opens natsmeta Stores on them
// for tests of packages that need a metadata service.
package natsmetatest

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/strata-log/strata/metadata/natsmeta"
)

// Embedded starts one in-process NATS server with JetStream under a temp dir, stopped at cleanup.
func Embedded(t testing.TB) *natsmeta.Embedded {
	t.Helper()
	e, err := natsmeta.StartEmbedded(natsmeta.EmbeddedConfig{Dir: t.TempDir()})
	if err != nil {
		t.Fatalf("natsmetatest: StartEmbedded: %v", err)
	}
	t.Cleanup(e.Shutdown)
	return e
}

// Open opens a Store on urls, closed at cleanup.
func Open(t testing.TB, urls ...string) *natsmeta.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := natsmeta.Open(ctx, natsmeta.Config{URLs: urls, OpTimeout: 2 * time.Second, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatalf("natsmetatest: Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// Store starts an embedded server and returns a Store on it.
func Store(t testing.TB) *natsmeta.Store {
	t.Helper()
	return Open(t, Embedded(t).ClientURL())
}

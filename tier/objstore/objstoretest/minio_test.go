package objstoretest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// recordingTB records Skip and Fatal instead of ending the test.
type recordingTB struct {
	testing.TB
	skipped, fatal string
}

func (r *recordingTB) Skip(args ...any)  { r.skipped = toString(args) }
func (r *recordingTB) Fatal(args ...any) { r.fatal = toString(args) }
func (r *recordingTB) Helper()           {}

func toString(args []any) string {
	var b strings.Builder
	for _, a := range args {
		b.WriteString(a.(string))
	}
	return b.String()
}

func TestToolPath(t *testing.T) {
	t.Chdir(t.TempDir()) // no go.mod above: only STRATA_TOOLS_BIN can help
	bin := t.TempDir()
	t.Setenv("STRATA_TOOLS_BIN", bin)

	t.Run("missing skips", func(t *testing.T) {
		t.Setenv("STRATA_REQUIRE_TOOLS", "")
		r := &recordingTB{TB: t}
		if p := ToolPath(r, "minio"); p != "" || !strings.Contains(r.skipped, "make tools") || r.fatal != "" {
			t.Fatalf("ToolPath = %q, skipped %q, fatal %q", p, r.skipped, r.fatal)
		}
	})
	t.Run("missing fails in CI", func(t *testing.T) {
		t.Setenv("STRATA_REQUIRE_TOOLS", "1")
		r := &recordingTB{TB: t}
		if p := ToolPath(r, "minio"); p != "" || !strings.Contains(r.fatal, "make tools") || r.skipped != "" {
			t.Fatalf("ToolPath = %q, skipped %q, fatal %q", p, r.skipped, r.fatal)
		}
	})
	t.Run("found", func(t *testing.T) {
		want := filepath.Join(bin, "minio")
		if err := os.WriteFile(want, []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		r := &recordingTB{TB: t}
		if p := ToolPath(r, "minio"); p != want || r.skipped != "" || r.fatal != "" {
			t.Fatalf("ToolPath = %q, want %q (skipped %q, fatal %q)", p, want, r.skipped, r.fatal)
		}
	})
}

package main

import (
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/strata-log/strata/tier/objstore/objstoretest"
)

const module = "github.com/strata-log/strata"

// allowed lists, for each top-level room, the rooms its packages may import. Imports flow one way:
// metadata ← tier ← ingest, compaction, query ← cmd (DESIGN.md).
var allowed = map[string][]string{
	"metadata":   {"metadata"},
	"tier":       {"metadata", "tier"},
	"ingest":     {"metadata", "tier", "ingest"},
	"compaction": {"metadata", "tier", "compaction"},
	"query":      {"metadata", "tier", "query"},
	"bench":      {"metadata", "tier", "bench"},
	"deploy":     {"deploy"}, // checks of the compose file and manifests; imports no Strata package
	"cmd":        {"metadata", "tier", "ingest", "compaction", "query", "cmd"},
}

func room(pkg string) string {
	rest := strings.TrimPrefix(strings.TrimPrefix(pkg, module), "/")
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		return rest[:i]
	}
	// A top-level package's test main is "<module>/<room>.test".
	return strings.TrimSuffix(rest, ".test")
}

// TestImportsFlowOneWay fails when a package imports a room it must not (go list -deps).
func TestImportsFlowOneWay(t *testing.T) {
	cmd := exec.Command("go", "list", "-deps", "-test", "-json=ImportPath,Imports,ForTest", module+"/...")
	cmd.Dir = repoRoot(t)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(out)
	checked := 0
	for {
		var p struct {
			ImportPath string
			Imports    []string
		}
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(p.ImportPath, module+"/") {
			continue
		}
		// Test variants are named "pkg [pkg.test]"; an external test package may import its own room's
		// consumers only through the same rules, so check them all.
		from := room(strings.Fields(p.ImportPath)[0])
		ok, known := allowed[from]
		if !known {
			t.Errorf("package %s is in room %q, which the layering rules do not know", p.ImportPath, from)
			continue
		}
		for _, imp := range p.Imports {
			imp = strings.Fields(imp)[0]
			if !strings.HasPrefix(imp, module+"/") {
				continue
			}
			to := room(imp)
			if !contains(ok, to) {
				t.Errorf("%s imports %s: room %q may not import room %q", p.ImportPath, imp, from, to)
			}
			checked++
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("go list: %v", err)
	}
	if checked == 0 {
		t.Fatal("no internal imports found: the check saw nothing")
	}
}

// TestMinIONotInGoMod keeps the AGPL MinIO server out of the module graph (it is a test server only).
func TestMinIONotInGoMod(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot(t), "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		for _, w := range f {
			if w == "github.com/minio/minio" {
				t.Fatalf("go.mod requires github.com/minio/minio: %q", line)
			}
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := objstoretest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

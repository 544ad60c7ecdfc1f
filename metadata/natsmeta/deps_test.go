package natsmeta_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoTestStoreInProduction keeps the in-memory test store out of natsmeta's build: the catalog
// rules both backends apply live in package metadata.
func TestNoTestStoreInProduction(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) == 0 {
		t.Fatal("go list -deps listed nothing")
	}
	for _, d := range deps {
		if strings.HasSuffix(d, "/metadata/memmeta") {
			t.Fatalf("natsmeta depends on %s", d)
		}
	}
}

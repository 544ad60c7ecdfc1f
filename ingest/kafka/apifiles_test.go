package kafka

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// headerRe is the first line of an API file's header: "Name (key N), versions a–b." or
// "Name (key N), version a.".
var headerRe = regexp.MustCompile(`^(\w+) \(key (\d+)\), (?:versions (\d+)–(\d+)|version (\d+))\.$`)

// TestAPIFileHeaders keeps every NN_name.go file in one shape: no comment above the package clause
// (it would become the package doc), a header below it whose first line names the key and the
// versions that the file registers, and a closing paragraph on deviations from Apache Kafka.
func TestAPIFileHeaders(t *testing.T) {
	files, err := filepath.Glob("[0-9][0-9]_*.go")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.ParseComments|parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		checked++
		if f.Doc != nil {
			t.Errorf("%s: a comment above the package clause becomes the package doc", name)
		}
		if len(f.Comments) == 0 || f.Comments[0].Pos() < f.Name.End() {
			t.Errorf("%s: no header below the package clause", name)
			continue
		}
		text := f.Comments[0].Text()
		first, _, _ := strings.Cut(text, "\n")
		m := headerRe.FindStringSubmatch(first)
		if m == nil {
			t.Errorf("%s: header starts %q, want \"Name (key N), versions a–b.\"", name, first)
			continue
		}
		key, _ := strconv.Atoi(m[2])
		if fileKey, _ := strconv.Atoi(name[:2]); key != fileKey {
			t.Errorf("%s: header names key %d", name, key)
		}
		lo, hi := m[3], m[4]
		if m[5] != "" {
			lo, hi = m[5], m[5]
		}
		a, ok := apis[int16(key)]
		if !ok {
			a, ok = saslAPIs[int16(key)]
		}
		if !ok {
			a, ok = txnAPIs[int16(key)]
		}
		if !ok {
			t.Errorf("%s: key %d is not registered", name, key)
		} else if strconv.Itoa(int(a.minVersion)) != lo || strconv.Itoa(int(a.maxVersion)) != hi {
			t.Errorf("%s: header says versions %s–%s, registered %d–%d", name, lo, hi, a.minVersion, a.maxVersion)
		}
		paras := strings.Split(strings.TrimSpace(text), "\n\n")
		last := paras[len(paras)-1]
		if !strings.HasPrefix(last, "Deviations from Apache Kafka: ") && last != "No deviations from Apache Kafka." {
			t.Errorf("%s: the header's last paragraph is not about deviations from Apache Kafka: %q", name, last)
		}
	}
	if n := len(apis) + len(saslAPIs) + len(txnAPIs); checked != n {
		t.Errorf("%d API files, %d APIs registered: one file per API", checked, n)
	}
}

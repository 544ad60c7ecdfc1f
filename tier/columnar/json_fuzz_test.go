package columnar

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzObjectFields checks the top-level scan of JSON values against encoding/json: the same
// objects, the same fields (last value of a repeated name), the same raw values.
func FuzzObjectFields(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":1,"b":"x\"y","c":{"d":[1,{"e":"}"}]},"a":true}`, ` { "k" : null } `,
		`{"\u0041":1}`, `[1]`, `"s"`, `{"a":1`, `{"a":-1.5e3,"b":[ ]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, v []byte) {
		fs, ok := objectFields(v)
		var m map[string]json.RawMessage
		isObj := json.Unmarshal(v, &m) == nil && m != nil && bytes.TrimSpace(v)[0] == '{'
		if ok != isObj {
			t.Fatalf("%q: object %v, encoding/json says %v", v, ok, isObj)
		}
		if !ok {
			return
		}
		if len(fs) != len(m) {
			t.Fatalf("%q: %d fields, encoding/json %d", v, len(fs), len(m))
		}
		for _, f := range fs {
			var a, b bytes.Buffer
			if json.Compact(&a, f.raw) != nil || json.Compact(&b, m[f.name]) != nil || a.String() != b.String() {
				t.Fatalf("%q: field %q = %q, encoding/json %q", v, f.name, f.raw, m[f.name])
			}
		}
	})
}

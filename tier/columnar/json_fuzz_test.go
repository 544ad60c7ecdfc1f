package columnar

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// FuzzObjectFields checks the top-level scan of JSON values against encoding/json: the same
// objects, the same fields (last value of a repeated name), the same raw values.
func FuzzObjectFields(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":1,"b":"x\"y","c":{"d":[1,{"e":"}"}]},"a":true}`, ` { "k" : null } `,
		`{"\u0041":1}`, `[1]`, `"s"`, `{"a":1`, `{"a":-1.5e3,"b":[ ]}`, `{"a":01}`, `{"a":1.}`, `{"a":1e}`, `{"a":-}`,
		`{"a":"\u00e"}`, `{"a":"\x"}`, "{\"a\":\"\t\"}", `{"a":tru}`, `{"a":nulll}`, `{"a":[1,]}`, `{"a":{"b":1,}}`, `{"a":1}}`,
		`{"a":1,}`, `{"a" 1}`, `{,}`, `{"a":[1 2]}`, `{"a":{"b"}}`, `{"a":-0.0E+5}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, v []byte) {
		names, raws, ok := objectFields(v)
		var m map[string]json.RawMessage
		isObj := json.Unmarshal(v, &m) == nil && m != nil && bytes.TrimSpace(v)[0] == '{'
		if ok != isObj {
			t.Fatalf("%q: object %v, encoding/json says %v", v, ok, isObj)
		}
		if !ok {
			return
		}
		if len(names) != len(m) {
			t.Fatalf("%q: %d fields, encoding/json %d", v, len(names), len(m))
		}
		for i, name := range names {
			var a, b bytes.Buffer
			if json.Compact(&a, raws[i]) != nil || json.Compact(&b, m[name]) != nil || a.String() != b.String() {
				t.Fatalf("%q: field %q = %q, encoding/json %q", v, name, raws[i], m[name])
			}
		}
	})
}

// The nesting encoding/json accepts, and one level more, inside a field.
func TestObjectFieldsDepth(t *testing.T) {
	for _, k := range []int{maxDepth - 2, maxDepth - 1, maxDepth, maxDepth + 1} {
		v := []byte(`{"a":` + strings.Repeat("[", k) + strings.Repeat("]", k) + `}`)
		_, _, ok := objectFields(v)
		if want := json.Valid(v); ok != want {
			t.Errorf("%d levels in a field: object %v, json.Valid %v", k, ok, want)
		}
	}
}

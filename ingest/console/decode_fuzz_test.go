package console

import (
	"testing"

	"github.com/strata-log/strata/tier/segment/segmenttest"
)

// FuzzDecodeBatches: bytes from a partition's log (disk or object storage) never panic the
// record decoder, and what it returns stays within max.
func FuzzDecodeBatches(f *testing.F) {
	f.Add(segmenttest.Batch{Values: [][]byte{[]byte("a"), nil}, Keys: [][]byte{nil, []byte("k")}}.Encode(), int64(0))
	f.Add(segmenttest.Batch{Values: make([][]byte, 2), RawRecords: withHeaders([]string{"k", ""}, []string{"x", "y"}), Codec: 4}.Encode(), int64(1))
	f.Add(append(segmenttest.Batch{Values: [][]byte{[]byte("gz")}, Codec: 1}.Encode(), segmenttest.Batch{BaseOffset: 1, Values: [][]byte{[]byte("s")}, Codec: 2}.Encode()...), int64(0))
	f.Add([]byte{0, 0, 0}, int64(0))
	f.Fuzz(func(t *testing.T, b []byte, from int64) {
		var out []Record
		_, _ = decodeBatches(b, from, 10, &out)
		if len(out) > 10 {
			t.Fatalf("%d records, max 10", len(out))
		}
	})
}

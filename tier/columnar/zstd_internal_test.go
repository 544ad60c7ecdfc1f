package columnar

import (
	"bytes"
	"testing"

	"github.com/apache/arrow-go/v18/parquet/compress"
)

// The process's zstd codec writes the frames arrow-go's own does, so objects keep their bytes, and
// they decode to the page again.
func TestZstdCodecFramesMatchArrowGo(t *testing.T) {
	c, err := compress.GetCodec(compress.Codecs.Zstd)
	if err != nil {
		t.Fatal(err)
	}
	z, ok := c.(*zstdCodec)
	if !ok {
		t.Fatalf("the registered zstd codec is %T, not this package's", c)
	}
	page := bytes.Repeat([]byte(`{"level":"info","service":"checkout","latency_ms":12,"msg":"paid"}`), 2000)
	for _, src := range [][]byte{nil, {}, []byte("x"), page, page[:70001]} {
		for _, level := range []int{compress.DefaultCompressionLevel, 1, 3, 9} {
			got := z.EncodeLevel(nil, src, level)
			want := z.Codec.EncodeLevel(nil, src, level)
			if !bytes.Equal(got, want) {
				t.Fatalf("level %d, %d bytes: %d-byte frame, arrow-go writes %d bytes", level, len(src), len(got), len(want))
			}
			if back := z.Decode(nil, got); !bytes.Equal(back, src) {
				t.Fatalf("level %d, %d bytes: decodes to %d bytes", level, len(src), len(back))
			}
		}
		if got, want := z.Encode(nil, src), z.Codec.Encode(nil, src); !bytes.Equal(got, want) {
			t.Fatalf("Encode of %d bytes: %d-byte frame, arrow-go writes %d bytes", len(src), len(got), len(want))
		}
	}
}

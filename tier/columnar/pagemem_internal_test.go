package columnar

import (
	"bytes"
	"testing"

	"github.com/apache/arrow-go/v18/parquet/compress"
)

// A pooled buffer comes back zeroed, and so does what it grows into in place, though an earlier
// user wrote all of its capacity.
func TestPageMemZeroes(t *testing.T) {
	var m pageMem
	dirty := m.Allocate(100 << 10)
	dirty = dirty[:cap(dirty)]
	for i := range dirty {
		dirty[i] = 0xff
	}
	m.Free(dirty)
	b := m.Allocate(70 << 10)
	b = m.Reallocate(120<<10, b)
	for i, c := range b {
		if c != 0 {
			t.Fatalf("byte %d of a reused buffer grown to %d is %#x", i, len(b), c)
		}
	}
	m.Free(b)
}

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

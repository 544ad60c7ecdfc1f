package columnar

import (
	"runtime"
	"sync"

	"github.com/apache/arrow-go/v18/parquet/compress"
	"github.com/klauspost/compress/zstd"
)

// zstdCodec is arrow-go's zstd codec with encoders that live as long as the process. arrow-go's
// own takes an encoder from a sync.Pool for every page and resets it on return, and each garbage
// collection empties the pool, so a conversion (which makes garbage fast) kept building fresh
// encoders: a history buffer of at least 1 MiB and match tables of about as much each, allocated
// and zeroed again and again. A zstd.Encoder's EncodeAll is safe for concurrent use and keeps a
// block encoder (about 1.3 MiB of tables at the default level) per call it runs at once, so one
// encoder per level serves every column writer; zstdEncoders bounds what it keeps.
//
// The frames are the ones arrow-go writes (same level, checksums on, an empty page an empty
// frame), so objects are byte for byte what they were; decoding is arrow-go's.
type zstdCodec struct {
	compress.Codec // arrow-go's zstd codec: Decode, CompressBound

	mu   sync.Mutex
	encs map[zstd.EncoderLevel]*zstd.Encoder
}

func init() {
	c, err := compress.GetCodec(compress.Codecs.Zstd)
	if err != nil {
		panic(err) // arrow-go registers zstd in its own init; a build without it is not one we ship
	}
	compress.RegisterCodec(compress.Codecs.Zstd, &zstdCodec{Codec: c, encs: map[zstd.EncoderLevel]*zstd.Encoder{}})
}

// encoder returns the process's encoder for level, made on first use.
func (c *zstdCodec) encoder(level zstd.EncoderLevel) *zstd.Encoder {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.encs[level]; e != nil {
		return e
	}
	e, err := zstd.NewWriter(nil, zstd.WithZeroFrames(true), zstd.WithEncoderLevel(level),
		zstd.WithEncoderConcurrency(min(runtime.GOMAXPROCS(0), zstdEncoders)))
	if err != nil {
		panic(err) // only invalid options fail, and these are fixed
	}
	c.encs[level] = e
	return e
}

// zstdEncoders bounds the pages compressed at once (more wait): a node converts with one
// compaction worker, and each block encoder is memory held for good.
const zstdEncoders = 4

func (c *zstdCodec) Encode(dst, src []byte) []byte {
	return c.EncodeLevel(dst, src, compress.DefaultCompressionLevel)
}

func (c *zstdCodec) EncodeLevel(dst, src []byte, level int) []byte {
	l := zstd.SpeedDefault
	if level != compress.DefaultCompressionLevel {
		l = zstd.EncoderLevelFromZstd(level)
	}
	return c.encoder(l).EncodeAll(src, dst[:0])
}

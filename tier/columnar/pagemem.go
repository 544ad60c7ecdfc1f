package columnar

import (
	"math/bits"
	"sync"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"github.com/apache/arrow-go/v18/parquet"
)

// pageMem is the memory arrow-go's page readers of a Parquet object take their buffers from (a
// page's compressed bytes, its decompressed bytes, its dictionary): a replay reads one column
// chunk after another, each with buffers of about the same size, that Go would otherwise
// allocate, zero from fresh pages and collect, for every column of every row group.
//
// Buffers of 64 KiB to 64 MiB come from a pool per power of two, zeroed as arrow-go expects of
// an allocator; the page reader gives them back when its column chunk is done (Close). A buffer
// has room past what was asked for: arrow-go copies a page's compressed bytes into it with
// bytes.Buffer.ReadFrom, which grows (a new allocation and a copy) a buffer with less than 512
// bytes to spare. Other sizes are the default allocator's.
type pageMem struct{}

const (
	pageMemMin     = 64 << 10
	pageMemClasses = 11 // up to 64 MiB
	pageMemSpare   = 1 << 10
)

var pageMemPools [pageMemClasses]sync.Pool

// pageMemClass is the pool of a buffer of n bytes, and whether it has one.
func pageMemClass(n int) (int, bool) {
	if n < pageMemMin {
		return 0, false
	}
	c := bits.Len(uint(n-1)) - bits.Len(uint(pageMemMin-1))
	return c, c < pageMemClasses
}

func (pageMem) Allocate(n int) []byte {
	c, ok := pageMemClass(n + pageMemSpare)
	if !ok {
		return memory.DefaultAllocator.Allocate(n)
	}
	if p, _ := pageMemPools[c].Get().(*[]byte); p != nil {
		b := (*p)[:n]
		clear(b)
		return b
	}
	return make([]byte, n, pageMemMin<<c)
}

// Reallocate grows b in place when its capacity allows. A pooled buffer's capacity past its length
// may hold an earlier user's bytes, so what it grows into is zeroed: as with arrow-go's own
// allocator, whose buffers are exactly as long as asked and grow into new, zeroed memory.
func (m pageMem) Reallocate(n int, b []byte) []byte {
	if n <= cap(b) {
		if n > len(b) {
			clear(b[len(b):n])
		}
		return b[:n]
	}
	nb := m.Allocate(n)
	copy(nb, b)
	m.Free(b)
	return nb
}

func (pageMem) Free(b []byte) {
	if c, ok := pageMemClass(cap(b)); ok && cap(b) == pageMemMin<<c {
		b = b[:0]
		pageMemPools[c].Put(&b)
	}
}

// pageReadProps are the reader properties of every Parquet object read: page buffers from pageMem.
var pageReadProps = parquet.NewReaderProperties(pageMem{})

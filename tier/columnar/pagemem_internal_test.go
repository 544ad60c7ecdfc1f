package columnar

import "testing"

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

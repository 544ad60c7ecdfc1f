package compaction

import (
	"crypto/sha256"
	"encoding/binary"
)

// keyMap maps record keys to the latest offset seen for them, in memory fixed at creation, as
// Kafka's SkimpyOffsetMap does: a key is stored as the first 16 bytes of its SHA-256 (two distinct
// keys share an entry with probability about n²/2¹²⁹, negligible for any map that fits in memory),
// next to its offset, in an open-addressing table probed linearly. A slot takes keySlotBytes; the
// table is filled to keyMapLoad at most, so that probes stay short. keyMap is not safe for
// concurrent use.
type keyMap struct {
	hashes  [][keyHashBytes]byte // all-zero: empty slot
	offsets []int64
	entries int
	limit   int // most entries before the map counts as full
}

const (
	keyHashBytes = 16
	keySlotBytes = keyHashBytes + 8
	keyMapLoad   = 0.9
)

// newKeyMap returns a map using about bytes of memory (at least 16 slots).
func newKeyMap(bytes int64) *keyMap {
	slots := max(int(bytes/keySlotBytes), 16)
	return &keyMap{hashes: make([][keyHashBytes]byte, slots), offsets: make([]int64, slots),
		limit: int(float64(slots) * keyMapLoad)}
}

// keyMapBytes is the memory of a map for keys distinct keys at most, limit at most.
func keyMapBytes(keys, limit int64) int64 {
	slots := max(int64(float64(keys)/keyMapLoad)+1, 16)
	return min(slots*keySlotBytes, limit)
}

// bytes is the memory of the map's table.
func (m *keyMap) bytes() int64 { return int64(len(m.hashes)) * keySlotBytes }

// capacity is the most distinct keys the map holds.
func (m *keyMap) capacity() int { return m.limit }

// free is how many more distinct keys fit.
func (m *keyMap) free() int { return m.limit - m.entries }

func (m *keyMap) reset() {
	clear(m.hashes)
	m.entries = 0
}

func hashKey(key []byte) [keyHashBytes]byte {
	sum := sha256.Sum256(key)
	var h [keyHashBytes]byte
	copy(h[:], sum[:keyHashBytes])
	if h == ([keyHashBytes]byte{}) {
		h[0] = 1 // the zero hash marks an empty slot
	}
	return h
}

// slot is where h is, or the empty slot where it would go.
func (m *keyMap) slot(h [keyHashBytes]byte) int {
	n := uint64(len(m.hashes))
	i := binary.LittleEndian.Uint64(h[:8]) % n
	for m.hashes[i] != h && m.hashes[i] != ([keyHashBytes]byte{}) {
		if i++; i == n {
			i = 0
		}
	}
	return int(i)
}

// put records offset as key's latest. It reports false, changing nothing, when key is new and the
// map is full.
func (m *keyMap) put(key []byte, offset int64) bool {
	h := hashKey(key)
	i := m.slot(h)
	if m.hashes[i] != h {
		if m.entries >= m.limit {
			return false
		}
		m.hashes[i] = h
		m.entries++
	}
	m.offsets[i] = offset
	return true
}

// get returns key's latest offset.
func (m *keyMap) get(key []byte) (int64, bool) {
	h := hashKey(key)
	i := m.slot(h)
	if m.hashes[i] != h {
		return 0, false
	}
	return m.offsets[i], true
}

package kafka

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Responses are written as a list of byte slices (a frame): the encoded response with its header,
// except that large Fetch record sets are not copied into it but written from where the fetch path
// left them (the hot-log read buffer, the tiered reader's bytes). kmsg stays the only encoder: the
// record sets are swapped for unique markers, the response is encoded (small: no records), and the
// markers and their length prefixes are replaced by the real lengths around the original slices.
//
//	kmsg encoding:   | size | corr | ...fields... | len(12) | MARKER 0 | ...fields... | len(12) | MARKER 1 | ... |
//	frame written:   | size | corr | ...fields... | len(L0) | <records 0> | ...fields... | len(L1) | <records 1> | ... |
//	                 `------------- meta ----------------'   `--- rb0 ---'  `-------- meta --------'  `--- rb1 ---'

// spliceMinBytes is the smallest record set worth writing from its own slice rather than copying.
const spliceMinBytes = 16 << 10

// markerBytes is the length of a record-set marker: a random per-process prefix and an index.
const markerBytes = 16

var markerPrefix = func() [markerBytes - 4]byte {
	var p [markerBytes - 4]byte
	_, _ = rand.Read(p[:])
	return p
}()

func marker(i int) []byte {
	m := make([]byte, markerBytes)
	copy(m, markerPrefix[:])
	binary.BigEndian.PutUint32(m[markerBytes-4:], uint32(i))
	return m
}

// appendBytesLen appends the length prefix kmsg writes before (nullable) bytes of length n.
func appendBytesLen(dst []byte, n int, flexible bool) []byte {
	if flexible {
		return kbin.AppendUvarint(dst, uint32(n+1))
	}
	return binary.BigEndian.AppendUint32(dst, uint32(n))
}

// frameLen is the number of bytes a frame writes.
func frameLen(f [][]byte) int {
	n := 0
	for _, b := range f {
		n += len(b)
	}
	return n
}

// encodeFrame frames resp with its response header.
func encodeFrame(corrID int32, flexible bool, resp kmsg.Response) [][]byte {
	if fr, ok := resp.(*kmsg.FetchResponse); ok {
		if f := encodeFetchFrame(corrID, flexible, fr); f != nil {
			return f
		}
	}
	return [][]byte{encodeResponse(corrID, flexible, resp)}
}

// encodeFetchFrame encodes a Fetch response without copying its large record sets; nil when there
// are none (or, defensively, when a marker cannot be found where expected).
func encodeFetchFrame(corrID int32, flexible bool, resp *kmsg.FetchResponse) [][]byte {
	type swapped struct {
		rb  []byte
		dst *[]byte
	}
	var sw []swapped
	for ti := range resp.Topics {
		ps := resp.Topics[ti].Partitions
		for pi := range ps {
			if rb := ps[pi].RecordBatches; len(rb) >= spliceMinBytes {
				sw = append(sw, swapped{rb: rb, dst: &ps[pi].RecordBatches})
				ps[pi].RecordBatches = marker(len(sw) - 1)
			}
		}
	}
	if len(sw) == 0 {
		return nil
	}
	head := encodeResponse(corrID, flexible, resp)
	for _, s := range sw {
		*s.dst = s.rb
	}
	isFlexBody := resp.Version >= 12
	markerLen := appendBytesLen(nil, markerBytes, isFlexBody)
	meta := make([]byte, 0, len(head)+len(sw)*5)
	cuts := make([]int, 0, len(sw)) // end of each meta piece
	pos := 0
	for i, s := range sw {
		m := marker(i)
		j := bytes.Index(head[pos:], m)
		if j < len(markerLen) || !bytes.Equal(head[pos+j-len(markerLen):pos+j], markerLen) {
			return nil
		}
		j += pos
		meta = append(meta, head[pos:j-len(markerLen)]...)
		meta = appendBytesLen(meta, len(s.rb), isFlexBody)
		cuts = append(cuts, len(meta))
		pos = j + markerBytes
	}
	meta = append(meta, head[pos:]...)
	f := make([][]byte, 0, 2*len(sw)+1)
	prev := 0
	for i, c := range cuts {
		f = append(f, meta[prev:c], sw[i].rb)
		prev = c
	}
	f = append(f, meta[prev:])
	binary.BigEndian.PutUint32(meta, uint32(frameLen(f)-4))
	return f
}

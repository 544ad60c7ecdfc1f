package kafka

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"

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

// A record set of the hot log may not be in memory at all: the fetch path leaves it in the segment
// files (broker.FetchResult.Spans) and the frame carries it as a file piece, which the connection
// writes with sendfile after the bytes before it. The handler puts a file marker in its place
// (fileMarker: the marker prefix and the piece's index with the top bit set) for encodeFetchFrame
// to find.

// spliceMinBytes is the smallest record set worth writing from its own slice rather than copying,
// and the smallest read from the hot log worth sending from its files.
const spliceMinBytes = 16 << 10

// fileRecords are record bytes a response leaves in files (hotlog.Spans).
type fileRecords interface {
	Len() int
	// WriteTo writes exactly Len bytes to w (sendfile when w is a socket) or fails.
	WriteTo(w io.Writer) (int64, error)
}

// piece is part of a response frame: bytes, or (file set) record bytes left in files.
type piece struct {
	b    []byte
	file fileRecords
}

func (p piece) len() int {
	if p.file != nil {
		return p.file.Len()
	}
	return len(p.b)
}

// fileMarkerBit marks the index of a file marker.
const fileMarkerBit = 1 << 31

// fileMarker is the record set a handler puts in a Fetch response in place of files[i].
func fileMarker(i int) []byte { return marker(i | fileMarkerBit) }

// fileIndex returns i when rb is fileMarker(i).
func fileIndex(rb []byte) (int, bool) {
	if len(rb) != markerBytes || !bytes.Equal(rb[:markerBytes-4], markerPrefix[:]) {
		return 0, false
	}
	v := binary.BigEndian.Uint32(rb[markerBytes-4:])
	return int(v &^ fileMarkerBit), v&fileMarkerBit != 0
}

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
func frameLen(f []piece) int {
	n := 0
	for _, p := range f {
		n += p.len()
	}
	return n
}

// encodeFrame frames resp with its response header; files are the file pieces a Fetch response
// names by fileMarker.
func encodeFrame(corrID int32, flexible bool, resp kmsg.Response, files []fileRecords) ([]piece, error) {
	if fr, ok := resp.(*kmsg.FetchResponse); ok {
		if f, err := encodeFetchFrame(corrID, flexible, fr, files); f != nil || err != nil {
			return f, err
		}
	}
	return []piece{{b: encodeResponse(corrID, flexible, resp)}}, nil
}

// encodeFetchFrame encodes a Fetch response without copying its large record sets, and with its
// file pieces; nil when there are none (or, defensively, when a marker cannot be found where
// expected and there are no file pieces). A file marker naming no file, or a marker not found with
// file pieces about, is an error: the response cannot be sent.
func encodeFetchFrame(corrID int32, flexible bool, resp *kmsg.FetchResponse, files []fileRecords) ([]piece, error) {
	type swapped struct {
		rb   []byte
		file fileRecords
		dst  *[]byte
	}
	var sw []swapped
	for ti := range resp.Topics {
		ps := resp.Topics[ti].Partitions
		for pi := range ps {
			rb := ps[pi].RecordBatches
			if i, ok := fileIndex(rb); ok {
				if i >= len(files) {
					return nil, fmt.Errorf("kafka: fetch response names file piece %d of %d", i, len(files))
				}
				sw = append(sw, swapped{rb: rb, file: files[i], dst: &ps[pi].RecordBatches})
				ps[pi].RecordBatches = marker(len(sw) - 1)
			} else if len(rb) >= spliceMinBytes {
				sw = append(sw, swapped{rb: rb, dst: &ps[pi].RecordBatches})
				ps[pi].RecordBatches = marker(len(sw) - 1)
			}
		}
	}
	if len(sw) == 0 {
		return nil, nil
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
	f := make([]piece, 0, 2*len(sw)+1)
	for i, s := range sw {
		m := marker(i)
		j := bytes.Index(head[pos:], m)
		if j < len(markerLen) || !bytes.Equal(head[pos+j-len(markerLen):pos+j], markerLen) {
			if len(files) == 0 { // defensively: the whole response, copied, is still right
				return nil, nil
			}
			return nil, fmt.Errorf("kafka: record set %d not found in the encoded fetch response", i)
		}
		j += pos
		meta = append(meta, head[pos:j-len(markerLen)]...)
		p := piece{b: s.rb, file: s.file}
		if p.file != nil {
			p.b = nil
		}
		meta = appendBytesLen(meta, p.len(), isFlexBody)
		cuts = append(cuts, len(meta))
		f = append(f, p)
		pos = j + markerBytes
	}
	meta = append(meta, head[pos:]...)
	out := make([]piece, 0, 2*len(sw)+1)
	prev := 0
	for i, c := range cuts {
		out = append(out, piece{b: meta[prev:c]}, f[i])
		prev = c
	}
	out = append(out, piece{b: meta[prev:]})
	binary.BigEndian.PutUint32(meta, uint32(frameLen(out)-4))
	return out, nil
}

package kafka

import (
	"bytes"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// The spliced Fetch frame is byte for byte what kmsg encodes, for every supported version, with
// record sets below and above the splice threshold, empty and null ones, errors and aborted
// transactions, and several topics.
func TestEncodeFetchFrameMatchesKmsg(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	recs := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	build := func(version int16, sizes [][]int) *kmsg.FetchResponse {
		resp := kmsg.NewPtrFetchResponse()
		resp.Version = version
		resp.ThrottleMillis, resp.SessionID = 7, 0
		for ti, ps := range sizes {
			st := kmsg.NewFetchResponseTopic()
			st.Topic = string(rune('a'+ti)) + "-topic"
			for pi, n := range ps {
				sp := kmsg.NewFetchResponseTopicPartition()
				sp.Partition, sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = int32(pi), 1000, 1000, 3
				switch {
				case n < 0:
					sp.RecordBatches = nil
					sp.ErrorCode = 1
				case pi == 1:
					a := kmsg.NewFetchResponseTopicPartitionAbortedTransaction()
					a.ProducerID, a.FirstOffset = 9, 10
					sp.AbortedTransactions = append(sp.AbortedTransactions, a)
					fallthrough
				default:
					sp.RecordBatches = recs(n)
				}
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp
	}
	big := spliceMinBytes
	cases := []struct {
		name  string
		sizes [][]int
	}{
		{"no topics", nil},
		{"small only", [][]int{{0, 100, -1}}},
		{"one large", [][]int{{big}}},
		{"large among small", [][]int{{10, big + 1, 0, 3 * big}, {-1, big, 5}}},
		{"uvarint length boundaries", [][]int{{1<<21 - 2, 1<<21 - 1, 1 << 21}}},
	}
	for _, version := range []int16{4, 7, 11, 12} {
		for _, flexHeader := range []bool{false, true} {
			for _, tc := range cases {
				resp := build(version, tc.sizes)
				want := encodeResponse(42, flexHeader, resp)
				f, err := encodeFrame(42, flexHeader, resp, nil)
				if err != nil {
					t.Fatal(err)
				}
				if got := joinFrame(t, f); !bytes.Equal(got, want) {
					t.Fatalf("v%d flexible header %v %s: frame of %d bytes differs from kmsg's %d", version, flexHeader, tc.name, len(got), len(want))
				}
				spliced := 0
				for _, ps := range tc.sizes {
					for _, n := range ps {
						if n >= big {
							spliced++
						}
					}
				}
				if spliced > 0 && len(f) != 2*spliced+1 {
					t.Fatalf("v%d %s: %d pieces, want %d (record sets written in place)", version, tc.name, len(f), 2*spliced+1)
				}
				if again := encodeResponse(42, flexHeader, resp); !bytes.Equal(again, want) {
					t.Fatalf("v%d %s: the response was changed by encoding", version, tc.name)
				}
			}
		}
	}
}

// A Fetch response whose record sets are file pieces (named by fileMarker) is written as kmsg
// encodes it with those bytes in place, beside spliced and copied record sets.
func TestEncodeFetchFrameFilePieces(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, version := range []int16{4, 11, 12, 16} {
		resp := kmsg.NewPtrFetchResponse()
		resp.Version = version
		plain := kmsg.NewPtrFetchResponse()
		plain.Version = version
		var files []fileRecords
		st := kmsg.NewFetchResponseTopic()
		st.Topic = "t"
		for pi, n := range []int{spliceMinBytes * 2, 10, spliceMinBytes + 5, 1 << 21, 0} {
			b := make([]byte, n)
			for i := range b {
				b[i] = byte(rng.Uint32())
			}
			sp := kmsg.NewFetchResponseTopicPartition()
			sp.Partition, sp.HighWatermark = int32(pi), 99
			sp.RecordBatches = b
			st.Partitions = append(st.Partitions, sp)
		}
		pst := st
		pst.Partitions = append([]kmsg.FetchResponseTopicPartition(nil), st.Partitions...)
		plain.Topics = append(plain.Topics, pst)
		for _, pi := range []int{0, 3} { // left in "files"
			files = append(files, memFile(st.Partitions[pi].RecordBatches))
			st.Partitions[pi].RecordBatches = fileMarker(len(files) - 1)
		}
		resp.Topics = append(resp.Topics, st)
		want := encodeResponse(7, true, plain)
		f, err := encodeFrame(7, true, resp, files)
		if err != nil {
			t.Fatal(err)
		}
		if got := joinFrame(t, f); !bytes.Equal(got, want) {
			t.Fatalf("v%d: frame with file pieces (%d bytes) differs from kmsg's encoding (%d)", version, len(got), len(want))
		}
		n := 0
		for _, p := range f {
			if p.file != nil {
				n++
			}
		}
		if n != len(files) {
			t.Fatalf("v%d: %d file pieces in the frame, want %d", version, n, len(files))
		}
		if _, err := encodeFrame(7, true, resp, files[:1]); err == nil {
			t.Fatalf("v%d: a file marker naming no file was encoded", version)
		}
	}
}

// memFile is a fileRecords in memory, for the encoder's tests (hotlog.Spans is the real one,
// exercised by the hot log's tests and by every client test over TCP).
type memFile []byte

func (m memFile) Len() int { return len(m) }

func (m memFile) WriteTo(w io.Writer) (int64, error) {
	n, err := w.Write(m)
	return int64(n), err
}

// joinFrame is what writing f sends.
func joinFrame(t *testing.T, f []piece) []byte {
	t.Helper()
	var buf bytes.Buffer
	for _, p := range f {
		if p.file == nil {
			buf.Write(p.b)
			continue
		}
		if n, err := p.file.WriteTo(&buf); err != nil || n != int64(p.file.Len()) {
			t.Fatalf("file piece wrote %d of %d bytes: %v", n, p.file.Len(), err)
		}
	}
	return buf.Bytes()
}

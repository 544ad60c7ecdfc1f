package kafka

import (
	"bytes"
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
				f := encodeFrame(42, flexHeader, resp)
				if got := bytes.Join(f, nil); !bytes.Equal(got, want) {
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

package httpapi

import (
	"bytes"
	"encoding/hex"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// decodeRecords decodes an uncompressed batch's records with kmsg.
func decodeRecords(t *testing.T, batch []byte) []kmsg.Record {
	t.Helper()
	var rb kmsg.RecordBatch
	if err := rb.ReadFrom(batch); err != nil {
		t.Fatal(err)
	}
	recs := make([]kmsg.Record, rb.NumRecords)
	body := rb.Records
	for i := range recs {
		if err := recs[i].ReadFrom(body); err != nil {
			t.Fatal(err)
		}
		n := int(recs[i].Length) + varintLen(recs[i].Length)
		body = body[n:]
	}
	return recs
}

func TestBuildBatchValid(t *testing.T) {
	recs := []record{{key: []byte("k"), value: []byte("v1")}, {value: []byte("v2")}}
	b := buildBatch(recs, []int{0, 1}, 1700000000000)
	got := decodeRecords(t, b)
	if len(got) != 2 || string(got[0].Key) != "k" || string(got[1].Value) != "v2" || got[1].OffsetDelta != 1 {
		t.Fatalf("decoded %+v", got)
	}
}

// varintLen is the size of v as a zig-zag varint.
func varintLen(v int32) int {
	u := uint32(v)<<1 ^ uint32(v>>31)
	n := 1
	for u >= 0x80 {
		u >>= 7
		n++
	}
	return n
}

// The bytes buildBatch wrote with its own kmsg encoder before the batch encoder moved to
// tier/segment; the shared encoder must write them unchanged.
const goldenBatch = "000000000000000000000118ffffffff02e298ae170000000000020000018bcfe568000000018bcfe56800ffffffffffffffffffffffffffff0000000312000000026b04763100100000020104763200a403000004066b65799003787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787878787800"

func TestBuildBatchGolden(t *testing.T) {
	recs := []record{{key: []byte("k"), value: []byte("v1")}, {value: []byte("v2")}, {key: []byte("key"), value: bytes.Repeat([]byte("x"), 200)}}
	want, err := hex.DecodeString(goldenBatch)
	if err != nil {
		t.Fatal(err)
	}
	if got := buildBatch(recs, []int{0, 1, 2}, 1700000000000); !bytes.Equal(got, want) {
		t.Fatalf("buildBatch = %x\nwant        %x", got, want)
	}
}

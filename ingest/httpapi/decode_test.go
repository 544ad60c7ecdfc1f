package httpapi

import (
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

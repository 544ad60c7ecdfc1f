package segment_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"

	"github.com/strata-log/strata/tier/segment"
	"github.com/strata-log/strata/tier/segment/segmenttest"
)

// tsBatch encodes a batch at base whose records carry timestamps ts, stored with codec c (one of
// codecs, so snappy comes raw and xerial-framed).
func tsBatch(t testing.TB, base int64, ts []int64, c int) []byte {
	t.Helper()
	vals := make([][]byte, len(ts))
	for i := range vals {
		vals[i] = bytes.Repeat([]byte{byte('a' + i%26)}, 10+i%40)
	}
	b := segmenttest.Batch{BaseOffset: base, FirstTimestamp: ts[0], Timestamps: ts, Values: vals, Codec: codecs[c].codec}
	if codecs[c].name == "snappy-xerial" {
		plain := segmenttest.Batch{BaseOffset: base, FirstTimestamp: ts[0], Timestamps: ts, Values: vals}.Encode()
		b.Codec = 0
		b.Attributes = segment.CompressionSnappy
		b.RawRecords = xerial(plain[segment.BatchHeaderSize:])
	}
	return b.Encode()
}

func TestRecordForTimestamp(t *testing.T) {
	// Out of order, as producers' clocks allow: the answer is the first record in offset order.
	stamps := []int64{1000, 990, 1010, 1020, 1005}
	tests := []struct {
		name       string
		appendTime int64 // > 0: the batch is stamped LogAppendTime with it
		ts         int64
		off, at    int64 // want; off -1: not found
	}{
		{name: "before the batch", ts: 0, off: 100, at: 1000},
		{name: "negative", ts: -5, off: 100, at: 1000},
		{name: "first record exactly", ts: 1000, off: 100, at: 1000},
		{name: "below the first, above the second", ts: 995, off: 100, at: 1000},
		{name: "inside", ts: 1001, off: 102, at: 1010},
		{name: "skips a later, older record", ts: 1006, off: 102, at: 1010},
		{name: "max exactly", ts: 1020, off: 103, at: 1020},
		{name: "after the batch", ts: 1021, off: -1, at: -1},
		{name: "append time, before", appendTime: 2000, ts: 0, off: 100, at: 2000},
		{name: "append time, a create time inside", appendTime: 2000, ts: 1015, off: 100, at: 2000},
		{name: "append time exactly", appendTime: 2000, ts: 2000, off: 100, at: 2000},
		{name: "append time, after", appendTime: 2000, ts: 2001, off: -1, at: -1},
		{name: "append time older than the records", appendTime: 500, ts: 1000, off: -1, at: -1},
	}
	for c := range codecs {
		for _, tt := range tests {
			t.Run(codecs[c].name+"/"+tt.name, func(t *testing.T) {
				b := tsBatch(t, 100, stamps, c)
				if tt.appendTime > 0 {
					segment.SetLogAppendTime(b, tt.appendTime)
				}
				info, err := segment.ValidateBatch(b)
				if err != nil {
					t.Fatal(err)
				}
				if err := segment.CheckRecords(b, info); err != nil {
					t.Fatalf("CheckRecords: %v", err)
				}
				off, at, found, err := segment.RecordForTimestamp(b, info, tt.ts)
				if err != nil {
					t.Fatal(err)
				}
				if found != (tt.off >= 0) || off != tt.off || at != tt.at {
					t.Fatalf("RecordForTimestamp(%d) = %d@%d found=%v, want %d@%d", tt.ts, off, at, found, tt.off, tt.at)
				}
			})
		}
	}
}

// TestRecordForTimestampCorrupt: records that break the format are ErrCorrupt up to the answer;
// the walk stops there, so a break after it goes unseen (the batch was checked when produced).
func TestRecordForTimestampCorrupt(t *testing.T) {
	good := rec(0, nil, []byte("v")) // timestamp delta 0
	late := rec(1, nil, []byte("w")) // timestamp delta 3
	bad := rec(2, nil, []byte("x"))
	bad.OffsetDelta = 7
	for _, c := range codecs {
		t.Run(c.name, func(t *testing.T) {
			b := makeBatch(c.codec, c.comp, appendRecords(good, late, bad), 3)
			info, err := segment.ValidateBatch(b)
			if err != nil {
				t.Fatal(err)
			}
			if _, _, _, err := segment.RecordForTimestamp(b, info, 100); !errors.Is(err, segment.ErrInvalidRecord) {
				t.Fatalf("walking past the bad record: %v", err)
			}
			if off, at, found, err := segment.RecordForTimestamp(b, info, 2); err != nil || !found || off != 1 || at != 3 {
				t.Fatalf("answer before the bad record: %d@%d %v %v", off, at, found, err)
			}
			// A header whose last offset delta contradicts its count fails even when the answer
			// comes first: the answer could otherwise lie past the batch's last offset.
			short := rewrite(b, func(h []byte) { binary.BigEndian.PutUint32(h[23:], 1) })
			if _, _, found, err := segment.RecordForTimestamp(short, mustInfo(t, short), 0); found || !errors.Is(err, segment.ErrInvalidRecord) {
				t.Fatalf("last offset delta 1 for 3 records: found=%v %v", found, err)
			}
			for _, bi := range []segment.BatchInfo{{}, {Length: info.Length + 1}, {Length: info.Length, Attributes: 7}} {
				if _, _, found, err := segment.RecordForTimestamp(b, bi, 0); found || !errors.Is(err, segment.ErrCorrupt) {
					t.Fatalf("info %+v: found=%v %v", bi, found, err)
				}
			}
		})
	}
}

// TestRecordForTimestampNoAllocs: an uncompressed batch is searched in place.
func TestRecordForTimestampNoAllocs(t *testing.T) {
	b := segmenttest.Records(0, 1000, 100, 100)
	info, err := segment.ValidateBatch(b)
	if err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() {
		if off, _, found, err := segment.RecordForTimestamp(b, info, 1050); err != nil || !found || off != 50 {
			t.Fatal(off, found, err)
		}
	}); n != 0 {
		t.Fatalf("%v allocations per uncompressed lookup", n)
	}
}

// stamped is one record of a test segment: its offset and the timestamp Kafka would report.
type stamped struct{ off, ts int64 }

// tsSegment writes a segment of n batches from base with every codec, out-of-order timestamps and
// every fifth batch stamped LogAppendTime, and returns it with its records in offset order.
func tsSegment(t testing.TB, base int64, n, interval int) ([]byte, []stamped) {
	t.Helper()
	var batches [][]byte
	var recs []stamped
	for i := range n {
		ts := make([]int64, 1+i%4)
		for j := range ts {
			ts[j] = int64(1000 + 37*((i*7)%n) + 11*((j*5)%3) - 8*j)
		}
		b := tsBatch(t, base, ts, i%len(codecs))
		if i%5 == 4 {
			segment.SetLogAppendTime(b, int64(900+40*i))
			for j := range ts {
				ts[j] = int64(900 + 40*i)
			}
		}
		for j := range ts {
			recs = append(recs, stamped{base + int64(j), ts[j]})
		}
		batches = append(batches, b)
		base += int64(len(ts))
	}
	return writeSegment(t, recs[0].off, batches, interval), recs
}

// TestReaderFindRecord compares FindRecord with a scan of every record, for timestamps and lower
// offset bounds around and inside the segment, at several index densities.
func TestReaderFindRecord(t *testing.T) {
	for _, interval := range []int{1, 500, 1 << 20} {
		t.Run(fmt.Sprint("interval=", interval), func(t *testing.T) {
			data, recs := tsSegment(t, 50, 40, interval)
			r, err := segment.OpenReader(bytes.NewReader(data), int64(len(data)))
			if err != nil {
				t.Fatal(err)
			}
			end := recs[len(recs)-1].off + 1
			for q := int64(900); q <= 2700; q += 7 {
				for _, from := range []int64{0, 50, 51, 63, 64, 90, end - 1, end, end + 5} {
					wantOff, wantTS := int64(-1), int64(-1)
					for _, rc := range recs {
						if rc.off >= from && rc.ts >= q {
							wantOff, wantTS = rc.off, rc.ts
							break
						}
					}
					off, ts, found, err := r.FindRecord(q, from)
					if err != nil {
						t.Fatal(err)
					}
					if found != (wantOff >= 0) || off != wantOff || ts != wantTS {
						t.Fatalf("FindRecord(%d, from %d) = %d@%d found=%v, want %d@%d", q, from, off, ts, found, wantOff, wantTS)
					}
				}
			}
		})
	}
}

// TestReaderFindRecordCorrupt: a flipped byte inside a batch the lookup must read is ErrCorrupt.
func TestReaderFindRecordCorrupt(t *testing.T) {
	data, recs := tsSegment(t, 0, 10, 1)
	r, err := segment.OpenReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	_, at, found, err := r.FindRecord(recs[0].ts, 0)
	if err != nil || !found {
		t.Fatal(found, err)
	}
	data[segment.BatchHeaderSize+2] ^= 0x40 // inside the first batch's records
	if _, _, _, err := r.FindRecord(at, 0); !errors.Is(err, segment.ErrCorrupt) {
		t.Fatalf("flipped byte: %v", err)
	}
}

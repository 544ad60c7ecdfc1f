package group

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// FuzzSharePartition drives a share partition with operations decoded from the input, as
// clients' acknowledgement batches (offsets and types from outside) and reads would, and checks
// its invariants: no panic, the SPSO never goes back, a record is held by one member at a time,
// no record is delivered more than the limit, and acknowledgements answer only the codes Kafka
// defines for them.
func FuzzSharePartition(f *testing.F) {
	f.Add([]byte{0, 0, 10, 1, 0, 0, 0, 0, 3, 1})
	f.Add([]byte{0, 1, 20, 1, 0, 2, 0, 5, 2, 2, 3, 0, 0, 0, 0})
	f.Add([]byte{0, 0, 5, 2, 1, 0, 0, 4, 2, 0, 3, 9, 9, 0, 0, 5, 1, 3, 0, 1, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		const limit, window = 3, 16
		members := []string{"a", "b"}
		now := time.Unix(1000, 0)
		p := newSharePartition(0)
		holder := map[int64]string{}
		for len(data) >= 5 {
			op, m, x, y, z := data[0]%4, members[data[1]%2], int64(data[2]%32), int64(data[3]%8), data[4]
			data = data[5:]
			before := p.spso
			switch op {
			case 0: // a read of batches from x, each y+1 offsets long
				var bs []BatchSpan
				for o := x; o < x+24; o += y + 1 {
					bs = append(bs, BatchSpan{First: o, Last: o + y, Control: z%7 == 0 && o == x})
				}
				for _, r := range p.acquire(now, m, bs, int(z%10)+1, time.Second, window) {
					if r.DeliveryCount < 1 || r.DeliveryCount > limit {
						t.Fatalf("delivery count %d", r.DeliveryCount)
					}
					for o := r.First; o <= r.Last; o++ {
						if h, held := holder[o]; held && p.recs[o-p.spso].owner != h {
							t.Fatalf("offset %d acquired by %s while %s held it", o, m, h)
						}
						holder[o] = m
					}
				}
			case 1: // an acknowledgement batch
				types := []int8{int8(z % 6)}
				if z&0x80 != 0 {
					types = make([]int8, y+1)
					for i := range types {
						types[i] = int8((int(z) + i) % 5)
					}
				}
				switch c := p.acknowledge(now, m, x, x+y, types, time.Second, limit); c {
				case 0, kerr.InvalidRecordState.Code, kerr.InvalidRequest.Code:
				default:
					t.Fatalf("ack answered %d", c)
				}
			case 2:
				now = now.Add(time.Duration(z) * 10 * time.Millisecond)
				p.expire(now, limit)
			case 3:
				p.releaseMember(m, limit)
			}
			if p.spso < before {
				t.Fatalf("SPSO went back from %d to %d", before, p.spso)
			}
			if len(p.recs) > window {
				t.Fatalf("%d records tracked, window %d", len(p.recs), window)
			}
			for o := range holder {
				if o < p.spso || p.recs[o-p.spso].state != recAcquired {
					delete(holder, o)
				}
			}
		}
	})
}

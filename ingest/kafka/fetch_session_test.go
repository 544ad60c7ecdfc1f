package kafka

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// fetchInSession sends a Fetch v12 for session id at epoch, naming partitions (at their offsets)
// and forgetting forget, with no wait.
func fetchInSession(r *rawConn, id, epoch int32, topic string, partitions map[int32]int64, forget []int32) *kmsg.FetchResponse {
	req := kmsg.NewPtrFetchRequest()
	req.SetVersion(12)
	req.SessionID, req.SessionEpoch, req.MaxBytes = id, epoch, 1<<20
	if len(partitions) > 0 {
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic = topic
		for p, off := range partitions {
			rp := kmsg.NewFetchRequestTopicPartition()
			rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch = p, off, 1<<20, -1
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
	}
	if len(forget) > 0 {
		ft := kmsg.NewFetchRequestForgottenTopic()
		ft.Topic, ft.Partitions = topic, forget
		req.ForgottenTopics = append(req.ForgottenTopics, ft)
	}
	return r.roundTrip(req).(*kmsg.FetchResponse)
}

// answered lists the partitions of resp, with their record bytes.
func answered(resp *kmsg.FetchResponse) map[int32]int {
	out := map[int32]int{}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			out[p.Partition] = len(p.RecordBatches)
		}
	}
	return out
}

// TestFetchSessions walks KIP-227 with raw requests: a session opens with every partition
// answered, an incremental fetch answers only the partitions with news (new data, a moved high
// watermark), a partition's new position is taken from the request, forgotten partitions are no
// longer answered, a wrong epoch or id is refused, a session is the connection's own, and closing
// it returns to sessionless fetches.
func TestFetchSessions(t *testing.T) {
	n := startNode(t, nodeOpts{})
	n.createTopic(t, "sess", 4, nil)
	r := n.raw(t)
	one := recordBatch(10, -1, -1, -1)
	produce := func(p int32) {
		t.Helper()
		if pr := r.produceRaw("sess", p, append([]byte(nil), one...), -1); pr.ErrorCode != 0 {
			t.Fatal(kerr.ErrorForCode(pr.ErrorCode))
		}
	}
	produce(0)
	produce(2)

	open := fetchInSession(r, 0, 0, "sess", map[int32]int64{0: 0, 1: 0, 2: 0, 3: 0}, nil)
	if open.ErrorCode != 0 || open.SessionID == 0 {
		t.Fatalf("open: error %v, session id %d", kerr.ErrorForCode(open.ErrorCode), open.SessionID)
	}
	if got := answered(open); len(got) != 4 || got[0] == 0 || got[2] == 0 || got[1] != 0 {
		t.Fatalf("open answered %v, want all 4 partitions, data on 0 and 2", got)
	}
	id := open.SessionID

	// Epoch 1, nothing moved: partitions 0 and 2 are re-read from offset 0 (the client did not
	// move them), so only they have data; 1 and 3 have no news.
	inc := fetchInSession(r, id, 1, "sess", nil, nil)
	if got := answered(inc); inc.ErrorCode != 0 || inc.SessionID != id || len(got) != 2 || got[0] == 0 || got[2] == 0 {
		t.Fatalf("epoch 1: %v, session %d, answered %v; want data of partitions 0 and 2 only", kerr.ErrorForCode(inc.ErrorCode), inc.SessionID, got)
	}
	// Epoch 2: the client moves 0 and 2 past their data; a record lands on 3.
	produce(3)
	inc = fetchInSession(r, id, 2, "sess", map[int32]int64{0: 10, 2: 10}, nil)
	if got := answered(inc); len(got) != 1 || got[3] == 0 {
		t.Fatalf("epoch 2: answered %v, want partition 3's new data only", got)
	}
	// Epoch 3: partition 3 is still at 0 in the session, so it has data again; forget it.
	inc = fetchInSession(r, id, 3, "sess", nil, []int32{3})
	if got := answered(inc); len(got) != 0 {
		t.Fatalf("epoch 3: answered %v, want nothing (3 forgotten, the rest unchanged)", got)
	}
	// A record on 1 moves its high watermark: news.
	produce(1)
	inc = fetchInSession(r, id, 4, "sess", nil, nil)
	if got := answered(inc); len(got) != 1 || got[1] == 0 {
		t.Fatalf("epoch 4: answered %v, want partition 1", got)
	}

	if bad := fetchInSession(r, id, 4, "sess", nil, nil); bad.ErrorCode != kerr.InvalidFetchSessionEpoch.Code {
		t.Fatalf("epoch 4 again: %v, want INVALID_FETCH_SESSION_EPOCH", kerr.ErrorForCode(bad.ErrorCode))
	}
	if bad := fetchInSession(r, id+1, 5, "sess", nil, nil); bad.ErrorCode != kerr.FetchSessionIDNotFound.Code {
		t.Fatalf("unknown id: %v, want FETCH_SESSION_ID_NOT_FOUND", kerr.ErrorForCode(bad.ErrorCode))
	}
	if other := fetchInSession(n.raw(t), id, 5, "sess", nil, nil); other.ErrorCode != kerr.FetchSessionIDNotFound.Code {
		t.Fatalf("the session from another connection: %v, want FETCH_SESSION_ID_NOT_FOUND", kerr.ErrorForCode(other.ErrorCode))
	}
	// Close: a full, sessionless answer; the id is gone.
	closed := fetchInSession(r, id, -1, "sess", map[int32]int64{0: 0, 1: 0}, nil)
	if closed.ErrorCode != 0 || closed.SessionID != 0 || len(answered(closed)) != 2 {
		t.Fatalf("close: %v, session %d, answered %v", kerr.ErrorForCode(closed.ErrorCode), closed.SessionID, answered(closed))
	}
	if gone := fetchInSession(r, id, 5, "sess", nil, nil); gone.ErrorCode != kerr.FetchSessionIDNotFound.Code {
		t.Fatalf("after close: %v, want FETCH_SESSION_ID_NOT_FOUND", kerr.ErrorForCode(gone.ErrorCode))
	}
}

// TestFetchSessionConsumer: a franz-go consumer (which uses sessions when the broker offers them)
// reads every record of many partitions written while it reads, once each.
func TestFetchSessionConsumer(t *testing.T) {
	n := startNode(t, nodeOpts{})
	const parts, per = 32, 50
	n.createTopic(t, "many", parts, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	prod := n.client(t, kgo.DefaultProduceTopic("many"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	cons := n.client(t, kgo.ConsumeTopics("many"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	seen := map[string]int{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for len(seen) < parts*per && ctx.Err() == nil {
			cons.PollFetches(ctx).EachRecord(func(r *kgo.Record) { seen[string(r.Value)]++ })
		}
	}()
	for i := range per {
		for p := range int32(parts) {
			prod.Produce(ctx, &kgo.Record{Partition: p, Value: []byte(fmt.Sprintf("%d-%d", p, i))}, nil)
		}
		if i%10 == 0 {
			if err := prod.Flush(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := prod.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	<-done
	if len(seen) != parts*per {
		t.Fatalf("read %d distinct records, want %d", len(seen), parts*per)
	}
	for v, c := range seen {
		if c != 1 {
			t.Fatalf("%s read %d times", v, c)
		}
	}
}

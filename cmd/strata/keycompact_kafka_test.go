package main

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestKeyCompactionMatchesKafka writes the same keyed stream (updates, tombstones) to Apache Kafka
// and to a Strata node, lets both compact, and compares what a consumer reading from the start
// sees: the same records at the same offsets, one per live key with its latest value, no
// tombstone once delete.retention.ms has passed. It needs a Kafka broker:
//
//	bench/kafka/start.sh /tmp/kafka 39092
//	STRATA_KAFKA_BOOTSTRAP=127.0.0.1:39092 go test ./cmd/strata -run TestKeyCompactionMatchesKafka
//
// Kafka never cleans its active segment, and cleans a log again (dropping tombstones) only when it
// is dirty: a sentinel record, always of one key, is appended every second to roll segments and
// dirty the log in both systems.
func TestKeyCompactionMatchesKafka(t *testing.T) {
	bootstrap := os.Getenv("STRATA_KAFKA_BOOTSTRAP")
	if bootstrap == "" {
		t.Skip("STRATA_KAFKA_BOOTSTRAP (an Apache Kafka broker, see bench/kafka) not set")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	c := startCluster(t, 1, 0)
	n := c.add(1)
	n.extraArgs = []string{"--compaction-interval", "200ms", "--sweep-interval", "0"}
	c.start(1)
	kafka, err := kgo.NewClient(kgo.SeedBrokers(bootstrap))
	if err != nil {
		t.Fatal(err)
	}
	defer kafka.Close()
	strata := c.client(t)

	topic := fmt.Sprintf("compare-%d", time.Now().UnixNano())
	configs := map[string]*string{"cleanup.policy": strp("compact"), "segment.ms": strp("500"),
		"min.cleanable.dirty.ratio": strp("0.01"), "delete.retention.ms": strp("3000")}
	kadmK := kadm.NewClient(kafka)
	// Kafka's cleaner looks for work every 15 s by default; a dynamic broker config shortens that.
	if _, err := kadmK.AlterBrokerConfigsState(ctx, []kadm.AlterConfig{{Name: "log.cleaner.backoff.ms", Value: strp("500")}}); err != nil {
		t.Logf("log.cleaner.backoff.ms not set: %v", err)
	}
	if r, err := kadmK.CreateTopic(ctx, 1, 1, configs, topic); err != nil || r.Err != nil {
		t.Fatalf("create on Kafka: %v %v", err, r.Err)
	}
	configs["local.retention.ms"] = strp("500") // Strata compacts tiered data: drop the hot copies
	c.createTopic(t, ctx, topic, 1, configs)

	produce := func(recs ...*kgo.Record) {
		t.Helper()
		for _, cl := range []*kgo.Client{kafka, strata} {
			cp := make([]*kgo.Record, len(recs))
			for i, r := range recs {
				cp[i] = &kgo.Record{Topic: topic, Key: r.Key, Value: r.Value}
			}
			if err := cl.ProduceSync(ctx, cp...).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	for u := range 20 {
		var recs []*kgo.Record
		for k := range 100 {
			recs = append(recs, &kgo.Record{Key: fmt.Appendf(nil, "key-%03d", k), Value: fmt.Appendf(nil, "v%02d", u)})
		}
		produce(recs...)
	}
	var tombs []*kgo.Record
	for k := 0; k < 100; k += 7 {
		tombs = append(tombs, &kgo.Record{Key: fmt.Appendf(nil, "key-%03d", k)})
	}
	produce(tombs...)

	// compacted reads one system from the start up to its end and reports its records other than
	// the sentinels, and whether they are the compacted state.
	type rec struct {
		offset     int64
		key, value string
	}
	read := func(cl *kgo.Client) ([]rec, bool) {
		t.Helper()
		adm := kadm.NewClient(cl)
		ends, err := adm.ListEndOffsets(ctx, topic)
		if err != nil || ends.Error() != nil {
			return nil, false
		}
		end, _ := ends.Lookup(topic, 0)
		cons, err := kgo.NewClient(kgo.SeedBrokers(cl.OptValue(kgo.SeedBrokers).([]string)...),
			kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
		if err != nil {
			t.Fatal(err)
		}
		defer cons.Close()
		var out []rec
		seen := map[string]bool{}
		compacted := true
		for done := false; !done; {
			rctx, rcancel := context.WithTimeout(ctx, 5*time.Second)
			fs := cons.PollFetches(rctx)
			rcancel()
			if rctx.Err() != nil && len(fs.Records()) == 0 {
				return nil, false
			}
			fs.EachRecord(func(r *kgo.Record) {
				if r.Offset >= end.Offset-1 {
					done = true
				}
				if r.Offset >= end.Offset || string(r.Key) == "sentinel" {
					return
				}
				if seen[string(r.Key)] || r.Value == nil {
					compacted = false
				}
				seen[string(r.Key)] = true
				out = append(out, rec{r.Offset, string(r.Key), string(r.Value)})
			})
		}
		return out, compacted && len(seen) == 100-len(tombs)
	}

	var gotK, gotS []rec
	doneK, doneS := false, false
	for i := 0; !(doneK && doneS); i++ {
		if ctx.Err() != nil {
			t.Fatalf("not compacted in time: Kafka %v (%d records), Strata %v (%d records)\n%s", doneK, len(gotK), doneS, len(gotS), c.logs())
		}
		time.Sleep(time.Second)
		produce(&kgo.Record{Key: []byte("sentinel"), Value: fmt.Appendf(nil, "%d", i)})
		if !doneK {
			gotK, doneK = read(kafka)
		}
		if !doneS {
			gotS, doneS = read(strata)
		}
	}
	if fmt.Sprint(gotK) != fmt.Sprint(gotS) {
		t.Fatalf("Kafka and Strata differ:\nKafka  %v\nStrata %v", gotK, gotS)
	}
	t.Logf("both compacted to the same %d records", len(gotK))
}

package kafka

// Fetch (key 1), versions 4–18.
//
// From v13 topics are named by ID (KIP-516): an ID that names no topic answers UNKNOWN_TOPIC_ID,
// and so does a partition whose leader here leads a topic of that name with another ID (the topic
// was deleted and created again). The fields v15–v18 add for replicas (replica state and
// directory, KIP-853/KIP-1166) are read and ignored; no node endpoints are sent (v16, KIP-951:
// optional, clients ask Metadata instead).
//
// Incremental fetch sessions (KIP-227) from v7: see fetch_session.go. Whole batches are returned
// as stored (compression intact); a fetch offset inside a batch returns that whole batch and the
// client skips the earlier records. At least one batch is returned for the first partition with
// data even beyond max_bytes (KIP-74); later
// partitions stop at max_bytes and partition_max_bytes. Long poll: when fewer than min_bytes are
// ready the request waits up to max_wait_ms and is woken when the high watermark of any requested
// partition may have moved (the broker's change channel), not by a timer. Errors answer at once.
// The high watermark is what no crash can take back: the hot log's fsynced end for
// strata.durability=local, the end of the data registered in object storage for object; no batch
// at or past it is returned. The last stable offset is the high watermark or, below it, the first
// offset of the oldest open transaction; read_committed (isolation level 1) fetches stop there and
// list the aborted transactions of the range (ingest/broker txn.go). No preferred read replica. Offsets below the hot log's start are read from
// object storage through the tiering engine (when the node has one), so consumers read across tiers
// without knowing it.
//
// On a plain TCP connection a partition's record set read from the hot log (spliceMinBytes or
// more) is not read into memory: the response carries it as a file piece that the connection
// writes with sendfile from the segment files (encode.go, hotlog.Spans), as Kafka does; a
// read_committed read stops at the last stable offset by itself. Under TLS the records are read
// and copied.
//
// Deviations from Apache Kafka: only the partition leader serves fetches (it alone knows the high
// watermark); others answer NOT_LEADER_OR_FOLLOWER.

import (
	"context"
	"reflect"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-log/strata/ingest/broker"
	"github.com/strata-log/strata/metadata"
)

func init() {
	register(api{key: kmsg.Fetch.Int16(), minVersion: 4, maxVersion: 18, handle: handleFetch})
}

func handleFetch(ctx context.Context, s *Server, cc *clientConn, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.FetchRequest)
	resp := req.ResponseKind().(*kmsg.FetchResponse)
	var unknown []kmsg.FetchResponseTopic // named by an ID that names no topic
	if req.Version >= 13 {
		unknown = s.fetchTopicNames(ctx, req)
	}
	req, session, code := cc.fetchSessions.begin(req)
	if code != 0 {
		resp.ErrorCode = code
		return resp, nil
	}
	denied := s.fetchDenied(cc, req) // topics without READ, taken out of req
	deadline := time.Now().Add(time.Duration(max(req.MaxWaitMillis, 0)) * time.Millisecond)
	// The broker caps what a request may ask for, so a small request cannot make it read a whole
	// log into memory.
	maxBytes := int(s.cfg.FetchMaxBytes)
	if req.MaxBytes > 0 {
		maxBytes = min(maxBytes, int(req.MaxBytes))
	}
	// Buffers of a pass that a later pass replaces go back at once; only the answered pass's
	// buffers wait until its response is written.
	var release []func()
	// Record sets left in the hot log's files, when the connection can send them from there.
	slot := fileSlot(ctx)
	var files *[]fileRecords
	if slot != nil {
		files = new([]fileRecords)
	}
	releasePass := func() {
		for _, f := range release {
			f()
		}
		release = release[:0]
		if files != nil {
			*files = (*files)[:0]
		}
	}
	answer := func() (kmsg.Response, error) {
		for _, f := range release {
			onWritten(ctx, f)
		}
		if files != nil {
			*slot = *files
		}
		resp.Topics = append(append(resp.Topics, denied...), unknown...)
		cc.fetchSessions.finish(session, resp)
		return resp, nil
	}
	for {
		// Take the change channels before reading so that an append between the read and the
		// wait still wakes us.
		var changed []<-chan struct{}
		for _, rt := range req.Topics {
			for _, rp := range rt.Partitions {
				if ch := s.broker.Changed(metadata.TopicPartition{Topic: rt.Topic, Partition: rp.Partition}); ch != nil {
					changed = append(changed, ch)
				}
			}
		}
		releasePass()
		total, errs := fetchOnce(ctx, s, req, resp, maxBytes, &release, files)
		if errs || len(denied) > 0 || len(unknown) > 0 || total >= int(req.MinBytes) || ctx.Err() != nil || !time.Now().Before(deadline) {
			return answer()
		}
		if !waitAny(ctx, changed, deadline) {
			releasePass()
			fetchOnce(ctx, s, req, resp, maxBytes, &release, files)
			return answer()
		}
	}
}

// fetchOnce fills resp from every requested partition. It reports the record bytes gathered and
// whether any partition had an error.
//
// Partitions are read concurrently as far as their partition_max_bytes together fit in max_bytes:
// for those the byte budget cannot depend on what the others return, so the answer is the one a
// partition-by-partition pass gives, but reads that wait on object storage overlap instead of
// queueing one GET behind another. Partitions past that point are read one by one with what is
// left of max_bytes.
//
// Every buffer release of the pass is appended to release; the caller runs them once the response
// no longer points into the buffers. With files set, record sets read from the hot log may stay in
// its files: they are appended to files and named in resp by fileMarker.
func fetchOnce(ctx context.Context, s *Server, req *kmsg.FetchRequest, resp *kmsg.FetchResponse, maxBytes int, release *[]func(), files *[]fileRecords) (int, bool) {
	committed := req.IsolationLevel == 1
	read := func(tp metadata.TopicPartition, offset int64, maxBytes int) (broker.FetchResult, error) {
		if files != nil {
			return s.broker.FetchSpans(ctx, tp, offset, maxBytes, spliceMinBytes, committed)
		}
		return s.broker.FetchIsolated(ctx, tp, offset, maxBytes, committed)
	}
	keep := func(f func()) {
		if f != nil {
			*release = append(*release, f)
		}
	}
	type slot struct {
		tp   metadata.TopicPartition
		rp   *kmsg.FetchRequestTopicPartition
		code int16 // answered without a read: the leader epoch or the topic ID does not match
		res  broker.FetchResult
		err  error
		pre  bool // read in the concurrent first phase
	}
	var slots []slot
	for ti := range req.Topics {
		rt := &req.Topics[ti]
		for pi := range rt.Partitions {
			sl := slot{tp: metadata.TopicPartition{Topic: rt.Topic, Partition: rt.Partitions[pi].Partition}, rp: &rt.Partitions[pi]}
			sl.code = checkLeaderEpoch(s, sl.tp, sl.rp.CurrentLeaderEpoch)
			if sl.code == 0 && req.Version >= 13 {
				if id, leads := s.broker.TopicIDOf(sl.tp); leads && id != rt.TopicID {
					sl.code = kerr.UnknownTopicID.Code
				}
			}
			slots = append(slots, sl)
		}
	}
	planned := 0
	var wg sync.WaitGroup
	for i := range slots {
		sl := &slots[i]
		pmax := int(max(sl.rp.PartitionMaxBytes, 0))
		if planned+pmax > maxBytes || sl.code != 0 {
			break
		}
		planned += pmax
		sl.pre = true
		if len(slots) == 1 {
			sl.res, sl.err = read(sl.tp, sl.rp.FetchOffset, max(pmax, 1))
			break
		}
		wg.Add(1)
		go func() { // owned here: joined below, before the response is assembled
			defer wg.Done()
			sl.res, sl.err = read(sl.tp, sl.rp.FetchOffset, max(pmax, 1))
		}()
	}
	wg.Wait()
	for i := range slots {
		keep(slots[i].res.Release)
	}

	resp.Topics = resp.Topics[:0]
	total, errs := 0, false
	i := 0
	for _, rt := range req.Topics {
		st := kmsg.NewFetchResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		st.Partitions = make([]kmsg.FetchResponseTopicPartition, 0, len(rt.Partitions))
		for range rt.Partitions {
			sl := &slots[i]
			i++
			sp := kmsg.NewFetchResponseTopicPartition()
			sp.Partition = sl.tp.Partition
			sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset, sp.PreferredReadReplica = -1, -1, -1, -1
			// Never null: librdkafka rejects a null record set (size -1); Kafka sends an empty one.
			sp.RecordBatches = []byte{}
			if sl.code != 0 {
				sp.ErrorCode, errs = sl.code, true
				st.Partitions = append(st.Partitions, sp)
				continue
			}
			budget := min(int(sl.rp.PartitionMaxBytes), maxBytes-total)
			res, err := sl.res, sl.err
			switch {
			case sl.pre:
			case total > 0 && budget <= 0:
				// The response is full: report the offsets only.
				res.LogStartOffset, res.HighWatermark, err = s.broker.Offsets(ctx, sl.tp)
				if err == nil {
					res.LastStableOffset, err = s.broker.LastStableOffset(ctx, sl.tp)
				}
			default:
				res, err = read(sl.tp, sl.rp.FetchOffset, max(budget, 1))
				keep(res.Release)
			}
			if err != nil {
				sp.ErrorCode, errs = s.code(err, "fetch", "partition", sl.tp), true
				if sp.ErrorCode == kerr.OffsetOutOfRange.Code {
					sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = res.HighWatermark, res.HighWatermark, res.LogStartOffset
				}
			} else {
				sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset = res.HighWatermark, res.LastStableOffset, res.LogStartOffset
				if committed {
					sp.AbortedTransactions = []kmsg.FetchResponseTopicPartitionAbortedTransaction{}
				}
				if n := res.Len(); n > 0 && (total == 0 || n <= budget) {
					// The first data may exceed the budget (KIP-74); later partitions must fit.
					if res.Spans != nil {
						sp.RecordBatches = fileMarker(len(*files))
						*files = append(*files, res.Spans)
					} else {
						sp.RecordBatches = res.Records
					}
					total += n
					for _, a := range res.Aborted {
						at := kmsg.NewFetchResponseTopicPartitionAbortedTransaction()
						at.ProducerID, at.FirstOffset = a.ProducerID, a.First
						sp.AbortedTransactions = append(sp.AbortedTransactions, at)
					}
				}
			}
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return total, errs
}

// fetchTopicNames names the topics of req (v13+) and of its forgotten topics by their IDs, and
// takes out of req those whose ID names no topic: their answer, UNKNOWN_TOPIC_ID for each
// partition, is returned.
func (s *Server) fetchTopicNames(ctx context.Context, req *kmsg.FetchRequest) []kmsg.FetchResponseTopic {
	var unknown []kmsg.FetchResponseTopic
	kept := req.Topics[:0]
	for _, rt := range req.Topics {
		if name, ok := s.topicName(ctx, rt.TopicID); ok {
			rt.Topic = name
			kept = append(kept, rt)
			continue
		}
		unknown = append(unknown, fetchErrorTopic(rt, kerr.UnknownTopicID.Code))
	}
	req.Topics = kept
	forgotten := req.ForgottenTopics[:0]
	for _, ft := range req.ForgottenTopics {
		if name, ok := s.topicName(ctx, ft.TopicID); ok {
			ft.Topic = name
			forgotten = append(forgotten, ft)
		}
	}
	req.ForgottenTopics = forgotten
	return unknown
}

// fetchErrorTopic answers every partition of rt with code.
func fetchErrorTopic(rt kmsg.FetchRequestTopic, code int16) kmsg.FetchResponseTopic {
	st := kmsg.NewFetchResponseTopic()
	st.Topic, st.TopicID = rt.Topic, rt.TopicID
	for _, rp := range rt.Partitions {
		sp := kmsg.NewFetchResponseTopicPartition()
		sp.Partition, sp.ErrorCode = rp.Partition, code
		sp.HighWatermark, sp.LastStableOffset, sp.LogStartOffset, sp.PreferredReadReplica = -1, -1, -1, -1
		sp.RecordBatches = []byte{}
		st.Partitions = append(st.Partitions, sp)
	}
	return st
}

// waitAny blocks until one of chans fires (true), or the deadline passes or ctx ends (false).
func waitAny(ctx context.Context, chans []<-chan struct{}, deadline time.Time) bool {
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	if len(chans) == 1 {
		select {
		case <-chans[0]:
			return true
		case <-t.C:
		case <-ctx.Done():
		}
		return false
	}
	cases := make([]reflect.SelectCase, 0, len(chans)+2)
	cases = append(cases,
		reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ctx.Done())},
		reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(t.C)})
	for _, ch := range chans {
		cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ch)})
	}
	i, _, _ := reflect.Select(cases)
	return i >= 2
}

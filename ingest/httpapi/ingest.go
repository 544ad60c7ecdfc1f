package httpapi

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strata-log/strata/ingest/broker"
	"github.com/strata-log/strata/ingest/topics"
	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/tier/segment"
)

type ingester struct {
	cfg   Config
	slots chan struct{} // one per request being read or handled (Config.MaxConcurrent)
}

type record struct {
	key, value []byte
	partition  int32
	offset     int64
}

// RecordOffset is one line's place in the log.
type RecordOffset struct {
	Partition int32 `json:"partition"`
	Offset    int64 `json:"offset"`
}

// IngestResponse answers a successful NDJSON post.
type IngestResponse struct {
	Topic   string         `json:"topic"`
	Records []RecordOffset `json:"records"`
}

func (in *ingester) serve(w http.ResponseWriter, r *http.Request) {
	topic := r.PathValue("topic")
	query := r.URL.Query()
	for name := range query {
		if name != "key" {
			writeJSON(w, http.StatusBadRequest, errorBody{Error: fmt.Sprintf("unknown query parameter %q (want only key=FIELD); nothing was written", name)})
			return
		}
	}
	keyField := query.Get("key")
	if err := topics.ValidateName(topic); err != nil {
		writeJSON(w, http.StatusBadRequest, errorBody{Error: err.Error() + "; nothing was written"})
		return
	}
	if !in.allowed(r, metadata.OpWrite, metadata.ResourceTopic, topic) {
		forbid(w, r, fmt.Sprintf("not authorized: writing to topic %q needs WRITE on it", topic))
		return
	}
	ctx, cancel := contextWithTimeout(r, in.cfg.Timeout)
	defer cancel()
	select {
	case in.slots <- struct{}{}:
		defer func() { <-in.slots }()
	case <-ctx.Done():
		w.Header().Set("Retry-After", "1")
		writeJSON(w, http.StatusServiceUnavailable, errorBody{Error: fmt.Sprintf("%d ingest requests in progress; retry later; nothing was written", in.cfg.MaxConcurrent)})
		return
	}

	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, in.cfg.MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeJSON(w, http.StatusRequestEntityTooLarge, errorBody{Error: fmt.Sprintf("body over %d bytes; nothing was written", mbe.Limit)})
			return
		}
		writeJSON(w, http.StatusBadRequest, errorBody{Error: "reading body: " + err.Error()})
		return
	}
	recs, line, err := parseNDJSON(body, keyField, in.cfg.MaxRecordsPerRequest)
	if errors.Is(err, errTooManyRecords) {
		writeJSON(w, http.StatusRequestEntityTooLarge, errorBody{Error: err.Error() + "; nothing was written", Line: line})
		return
	}
	if err != nil {
		writeJSON(w, http.StatusBadRequest, errorBody{Error: err.Error() + "; nothing was written", Line: line})
		return
	}
	if len(recs) == 0 {
		writeJSON(w, http.StatusBadRequest, errorBody{Error: "empty body: want one JSON value per line"})
		return
	}
	t, err := in.ensureTopic(ctx, r, topic)
	if errors.Is(err, errForbidden) {
		forbid(w, r, err.Error())
		return
	}
	if err != nil {
		in.fail(w, topic, err)
		return
	}
	partitionRecords(topic, recs, t.Partitions)

	// One batch per partition and at most MaxRecordsPerBatch records each, in input order.
	now := time.Now().UnixMilli()
	type pending struct {
		tp    metadata.TopicPartition
		idx   []int
		last  int64
		epoch int32
	}
	var writes []pending
	byPart := map[int32][]int{}
	var order []int32
	for i, rec := range recs {
		if _, seen := byPart[rec.partition]; !seen {
			order = append(order, rec.partition)
		}
		byPart[rec.partition] = append(byPart[rec.partition], i)
	}
	for _, p := range order {
		idx := byPart[p]
		for len(idx) > 0 {
			n := min(len(idx), in.cfg.MaxRecordsPerBatch)
			writes = append(writes, pending{tp: metadata.TopicPartition{Topic: topic, Partition: p}, idx: idx[:n]})
			idx = idx[n:]
		}
	}
	for wi := range writes {
		wr := &writes[wi]
		batch := buildBatch(recs, wr.idx, now)
		res, err := in.append(ctx, wr.tp, batch)
		if err != nil {
			in.fail(w, topic, err)
			return
		}
		for j, i := range wr.idx {
			recs[i].offset = res.BaseOffset + int64(j)
		}
		wr.last, wr.epoch = res.LastOffset, res.Epoch
	}
	for _, wr := range writes {
		if err := in.cfg.Producer.WaitDurable(ctx, wr.tp, wr.epoch, wr.last+1); err != nil {
			in.fail(w, topic, err)
			return
		}
	}
	resp := IngestResponse{Topic: topic, Records: make([]RecordOffset, len(recs))}
	for i, rec := range recs {
		resp.Records[i] = RecordOffset{Partition: rec.partition, Offset: rec.offset}
	}
	writeJSON(w, http.StatusOK, resp)
}

// leaderWait bounds how long an append waits for this node to take a partition it does not lead
// yet: a topic another request has just auto-created is led once that request's reconcile is done.
const leaderWait = 2 * time.Second

// append appends batch, retrying while this node is not (yet) the partition's leader, up to
// leaderWait. A batch refused as NOT_LEADER was not written, so retrying cannot duplicate it.
func (in *ingester) append(ctx context.Context, tp metadata.TopicPartition, batch []byte) (broker.AppendResult, error) {
	deadline := time.Now().Add(leaderWait)
	for {
		res, err := in.cfg.Producer.Append(ctx, tp, batch)
		if broker.Code(err) != kerr.NotLeaderForPartition.Code || time.Now().After(deadline) {
			return res, err
		}
		select {
		case <-ctx.Done():
			return res, err
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// fail maps a broker error to an HTTP status.
func (in *ingester) fail(w http.ResponseWriter, topic string, err error) {
	status := http.StatusInternalServerError
	switch broker.Code(err) {
	case kerr.UnknownTopicOrPartition.Code:
		status = http.StatusNotFound // auto-creation is off
	case kerr.InvalidTopicException.Code:
		status = http.StatusBadRequest // a bad or reserved name
	case kerr.NotLeaderForPartition.Code, kerr.LeaderNotAvailable.Code, kerr.RequestTimedOut.Code:
		status = http.StatusServiceUnavailable
	case kerr.MessageTooLarge.Code, kerr.RecordListTooLarge.Code:
		status = http.StatusRequestEntityTooLarge
	}
	if status == http.StatusInternalServerError {
		in.cfg.Logger.Error("ndjson ingest failed", "topic", topic, "err", err)
	}
	writeJSON(w, status, errorBody{Error: err.Error()})
}

// parseNDJSON parses every line before anything is written. It returns the 1-based line number of
// the first bad line.
// errTooManyRecords: a body holds more records than Config.MaxRecordsPerRequest.
var errTooManyRecords = errors.New("too many records")

func parseNDJSON(body []byte, keyField string, maxRecords int) ([]record, int, error) {
	var recs []record
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 0, 64<<10), len(body)+1)
	line := 0
	for sc.Scan() {
		line++
		raw := bytes.TrimSpace(sc.Bytes())
		if len(raw) == 0 {
			continue
		}
		if maxRecords > 0 && len(recs) == maxRecords {
			return nil, line, fmt.Errorf("line %d: %w: more than %d in one body (split it)", line, errTooManyRecords, maxRecords)
		}
		rec, err := parseLine(raw, keyField)
		if err != nil {
			return nil, line, fmt.Errorf("line %d: %v", line, err)
		}
		recs = append(recs, rec)
	}
	if err := sc.Err(); err != nil {
		return nil, line + 1, fmt.Errorf("line %d: %v", line+1, err)
	}
	return recs, 0, nil
}

func parseLine(raw []byte, keyField string) (record, error) {
	if !json.Valid(raw) {
		var v any
		err := json.Unmarshal(raw, &v)
		return record{}, fmt.Errorf("invalid JSON: %v", err)
	}
	switch raw[0] {
	case '{':
		rec := record{value: append([]byte(nil), raw...)}
		if keyField != "" {
			var obj map[string]json.RawMessage
			if err := json.Unmarshal(raw, &obj); err != nil {
				return record{}, fmt.Errorf("invalid JSON object: %v", err)
			}
			if k, ok := obj[keyField]; ok {
				var s string
				if err := json.Unmarshal(k, &s); err == nil {
					rec.key = []byte(s)
				} else {
					rec.key = append([]byte(nil), k...)
				}
			}
		}
		return rec, nil
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return record{}, fmt.Errorf("invalid JSON string: %v", err)
		}
		return record{value: []byte(s)}, nil
	default:
		return record{}, errors.New("want a JSON object or string")
	}
}

// partitionRecords assigns partitions as Kafka's default partitioner does: murmur2 of the key for
// keyed records, one sticky partition per request for the rest.
func partitionRecords(topic string, recs []record, partitions int32) {
	p := kgo.StickyKeyPartitioner(nil).ForTopic(topic)
	for i := range recs {
		kr := &kgo.Record{Key: recs[i].key, Value: recs[i].value}
		recs[i].partition = int32(p.Partition(kr, int(partitions)))
	}
}

// buildBatch encodes the records at idx, all stamped ts, as one uncompressed RecordBatch v2.
func buildBatch(recs []record, idx []int, ts int64) []byte {
	nb := segment.NewBatch{FirstTimestamp: ts, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1,
		Records: make([]segment.Record, len(idx))}
	for j, i := range idx {
		nb.Records[j] = segment.Record{Timestamp: ts, Key: recs[i].key, Value: recs[i].value}
	}
	return segment.AppendBatch(nil, nb)
}

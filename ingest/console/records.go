package console

import (
	"context"
	"encoding/binary"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-log/strata/ingest/broker"
	"github.com/strata-log/strata/ingest/topics"
	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/tier/segment"
)

// Record is one record in the message browser. Key and Value are base64 in JSON (null for a null
// key or value); the page decodes them as text, JSON or hex.
type Record struct {
	Offset    int64    `json:"offset"`
	Timestamp int64    `json:"timestamp"` // milliseconds
	Key       []byte   `json:"key"`
	Value     []byte   `json:"value"`
	Headers   []Header `json:"headers"`
}

// Header is a record header.
type Header struct {
	Key   string `json:"key"`
	Value []byte `json:"value"`
}

// RecordsView answers GET /v1/topics/{topic}/partitions/{p}/records.
type RecordsView struct {
	Topic         string   `json:"topic"`
	Partition     int32    `json:"partition"`
	Leader        int32    `json:"leader"`
	LogStart      int64    `json:"log_start"`
	HighWatermark int64    `json:"high_watermark"`
	From          int64    `json:"from"`        // the offset read from (the requested one, moved into the log)
	NextOffset    int64    `json:"next_offset"` // where the next page (or a live tail) continues
	Records       []Record `json:"records"`
}

const (
	defaultMaxRecords = 50
	maxMaxRecords     = 500
	fetchBytes        = 1 << 20
	maxFetchedBytes   = 16 << 20 // per request, so a page of huge records ends early
)

// recordsQuery is the parsed query of a records request.
type recordsQuery struct {
	offset int64 // -1: not given
	time   int64 // -1: not given
	max    int
}

func parseRecordsQuery(r *http.Request) (recordsQuery, error) {
	q := r.URL.Query()
	rq := recordsQuery{offset: -1, time: -1, max: defaultMaxRecords}
	for k := range q {
		switch k {
		case "offset", "time", "max", "local":
		default:
			return rq, errorf(http.StatusBadRequest, "unknown parameter %q (want offset, time, max)", k)
		}
	}
	if s := q.Get("offset"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 0 {
			return rq, errorf(http.StatusBadRequest, "offset %q: want a non-negative integer", s)
		}
		rq.offset = n
	}
	if s := q.Get("time"); s != "" {
		if rq.offset >= 0 {
			return rq, errorf(http.StatusBadRequest, "give offset or time, not both")
		}
		if n, err := strconv.ParseInt(s, 10, 64); err == nil && n >= 0 {
			rq.time = n
		} else if t, err := time.Parse(time.RFC3339Nano, s); err == nil && t.UnixMilli() >= 0 {
			rq.time = t.UnixMilli()
		} else {
			return rq, errorf(http.StatusBadRequest, "time %q: want milliseconds since the epoch or RFC 3339", s)
		}
	}
	if s := q.Get("max"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxMaxRecords {
			return rq, errorf(http.StatusBadRequest, "max %q: want 1 to %d", s, maxMaxRecords)
		}
		rq.max = n
	}
	return rq, nil
}

func (s *Server) records(ctx context.Context, r *http.Request) (any, error) {
	name := r.PathValue("topic")
	if err := topics.ValidateName(name); err != nil {
		return nil, errorf(http.StatusBadRequest, "%v", err)
	}
	if err := s.requireTopic(r, metadata.OpRead, name); err != nil {
		return nil, err
	}
	p, err := strconv.ParseInt(r.PathValue("partition"), 10, 32)
	if err != nil || p < 0 {
		return nil, errorf(http.StatusBadRequest, "partition %q: want a non-negative integer", r.PathValue("partition"))
	}
	rq, err := parseRecordsQuery(r)
	if err != nil {
		return nil, err
	}
	t, err := s.cfg.Topics.Topic(ctx, name)
	if err != nil {
		return nil, err
	}
	if int32(p) >= t.Partitions {
		return nil, errorf(http.StatusNotFound, "topic %s has %d partitions, no partition %d", name, t.Partitions, p)
	}
	tp := metadata.TopicPartition{Topic: name, Partition: int32(p)}
	if _, led := s.cfg.Broker.TierStatus(tp); !led {
		if local(r) {
			return nil, errorf(http.StatusServiceUnavailable, "node %d does not lead %s", s.cfg.Broker.NodeID(), tp)
		}
		return s.forwardRecords(ctx, r, tp)
	}
	return s.readRecords(ctx, tp, rq)
}

// forwardRecords asks tp's leader for the records.
func (s *Server) forwardRecords(ctx context.Context, r *http.Request, tp metadata.TopicPartition) (any, error) {
	leaders, err := s.cfg.Broker.Leaders(ctx)
	if err != nil {
		return nil, err
	}
	l, ok := leaders[tp]
	if !ok || l.Node == s.cfg.Broker.NodeID() {
		return nil, errorf(http.StatusServiceUnavailable, "%s has no leader serving it yet", tp)
	}
	n, err := s.nodeByID(ctx, l.Node)
	if err != nil {
		return nil, err
	}
	q := r.URL.Query()
	q.Del("local")
	var v RecordsView
	if err := s.askPeer(ctx, r, n, r.URL.EscapedPath(), q, &v); err != nil {
		return nil, asHTTP(err)
	}
	return v, nil
}

// readRecords reads up to rq.max records of a partition this node leads.
func (s *Server) readRecords(ctx context.Context, tp metadata.TopicPartition, rq recordsQuery) (RecordsView, error) {
	b := s.cfg.Broker
	start, _, err := b.ListOffset(ctx, tp, broker.EarliestTimestamp)
	if err != nil {
		return RecordsView{}, err
	}
	hw, _, err := b.ListOffset(ctx, tp, broker.LatestTimestamp)
	if err != nil {
		return RecordsView{}, err
	}
	v := RecordsView{Topic: tp.Topic, Partition: tp.Partition, Leader: b.NodeID(), LogStart: start, HighWatermark: hw, Records: []Record{}}
	from := rq.offset
	switch {
	case rq.time >= 0:
		off, _, err := b.ListOffset(ctx, tp, rq.time)
		if err != nil {
			return RecordsView{}, err
		}
		from = off
		if off < 0 { // no record that new
			from = hw
		}
	case from < 0:
		from = max(start, hw-int64(rq.max)) // the newest page
	}
	from = min(max(from, start), hw)
	v.From, v.NextOffset = from, from
	fetched := 0
	for v.NextOffset < hw && len(v.Records) < rq.max && fetched < maxFetchedBytes {
		res, err := b.Fetch(ctx, tp, v.NextOffset, fetchBytes)
		if err != nil {
			return RecordsView{}, err
		}
		fetched += len(res.Records)
		next, err := decodeBatches(res.Records, v.NextOffset, rq.max, &v.Records)
		if res.Release != nil {
			res.Release()
		}
		if err != nil {
			return RecordsView{}, fmt.Errorf("console: %s at %d: %w", tp, v.NextOffset, err)
		}
		if next <= v.NextOffset { // nothing whole came back
			break
		}
		v.NextOffset = next
	}
	return v, nil
}

var decompressor = kgo.DefaultDecompressor()

// decodeBatches appends the records at or after from held in the whole RecordBatches of b to
// *out, until it holds max, and returns the offset after the last record appended (or after the
// last batch read when every record of it was skipped). Control batches' records are skipped.
// The bytes are checked (segment.ValidateBatch, CheckRecords: CRC, record format, bounded
// inflation) before they are decoded; bad bytes give an error, never a panic. It copies what it
// keeps, so b may be reused.
func decodeBatches(b []byte, from int64, max int, out *[]Record) (next int64, err error) {
	next = from
	for len(b) > 0 && len(*out) < max {
		info, err := segment.ValidateBatch(b)
		if err != nil {
			return next, err
		}
		if err := segment.CheckRecords(b, info); err != nil {
			return next, err
		}
		batch := b[:info.Size()]
		b = b[info.Size():]
		if info.NextOffset() <= from {
			continue
		}
		if info.Control() {
			next = info.NextOffset()
			continue
		}
		var rb kmsg.RecordBatch
		if err := rb.ReadFrom(batch); err != nil {
			return next, fmt.Errorf("%w: %v", segment.ErrCorrupt, err)
		}
		raw, err := decompressor.Decompress(rb.Records, kgo.CompressionCodecType(info.Compression()))
		if err != nil {
			return next, fmt.Errorf("%w: decompress: %v", segment.ErrCorrupt, err)
		}
		for i := int32(0); i < info.NumRecords; i++ {
			l, n := binary.Varint(raw)
			if n <= 0 || l < 0 || int64(len(raw)-n) < l {
				return next, fmt.Errorf("%w: record %d of the batch at %d", segment.ErrCorrupt, i, info.BaseOffset)
			}
			var rec kmsg.Record
			if err := rec.ReadFrom(raw[:n+int(l)]); err != nil {
				return next, fmt.Errorf("%w: record %d of the batch at %d: %v", segment.ErrCorrupt, i, info.BaseOffset, err)
			}
			raw = raw[n+int(l):]
			off := info.BaseOffset + int64(rec.OffsetDelta)
			if off < from {
				continue
			}
			ts := info.FirstTimestamp + rec.TimestampDelta64
			if info.LogAppendTime() {
				ts = info.MaxTimestamp
			}
			r := Record{Offset: off, Timestamp: ts, Key: clone(rec.Key), Value: clone(rec.Value), Headers: make([]Header, 0, len(rec.Headers))}
			for _, h := range rec.Headers {
				r.Headers = append(r.Headers, Header{Key: h.Key, Value: clone(h.Value)})
			}
			*out = append(*out, r)
			next = off + 1
			if len(*out) == max {
				return next, nil
			}
		}
		next = info.NextOffset()
	}
	return next, nil
}

// clone copies b, keeping nil (a null key or value) apart from empty.
func clone(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append([]byte{}, b...)
}

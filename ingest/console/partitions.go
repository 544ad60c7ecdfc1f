package console

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"sort"
	"sync"

	"github.com/strata-log/strata/ingest/topics"
	"github.com/strata-log/strata/metadata"
)

// PartitionView is one partition on the topic page: its leader and where its data lives.
//
//	log start     local start     tiered end     high watermark   log end
//	    |-- objects only --|-- both --|-- hot log only --|·· not yet visible ··|
//
// The catalog's fields (TieredEnd, ObjectBytes, ObjectSegments, and LogStart when the leader did
// not answer) are read by the node answering; the leader's fields (LocalStart, HighWatermark,
// LogEnd, HotBytes, HotSegments) come from the leader, -1 or 0 when it did not answer (Error says
// why) or there is none (Leader -1).
type PartitionView struct {
	Partition      int32  `json:"partition"`
	Leader         int32  `json:"leader"`
	Epoch          int32  `json:"epoch"`
	LogStart       int64  `json:"log_start"`
	LocalStart     int64  `json:"local_start"`
	TieredEnd      int64  `json:"tiered_end"` // one past the last tiered offset; -1 when nothing is tiered
	HighWatermark  int64  `json:"high_watermark"`
	LogEnd         int64  `json:"log_end"`
	ObjectBytes    int64  `json:"object_bytes"`
	ObjectSegments int    `json:"object_segments"`
	HotBytes       int64  `json:"hot_bytes"`
	HotSegments    int    `json:"hot_segments"`
	Error          string `json:"error,omitempty"`
}

// leaderFields copies what only the leader knows.
func (v *PartitionView) leaderFields(o PartitionView) {
	v.Epoch, v.LogStart, v.LocalStart = o.Epoch, o.LogStart, o.LocalStart
	v.HighWatermark, v.LogEnd, v.HotBytes, v.HotSegments = o.HighWatermark, o.LogEnd, o.HotBytes, o.HotSegments
}

// ledView is a partition this node leads, from its TierStatus (no I/O).
func (s *Server) ledView(tp metadata.TopicPartition) (PartitionView, bool) {
	st, ok := s.cfg.Broker.TierStatus(tp)
	if !ok {
		return PartitionView{}, false
	}
	o := st.Offsets
	return PartitionView{Partition: tp.Partition, Leader: s.cfg.Broker.NodeID(), Epoch: st.Epoch,
		LogStart: o.LogStart, LocalStart: o.LocalStart, TieredEnd: -1, HighWatermark: o.HighWatermark, LogEnd: o.End,
		HotBytes: st.HotBytes, HotSegments: st.HotSegments}, true
}

func (s *Server) partitions(ctx context.Context, r *http.Request) (any, error) {
	name := r.PathValue("topic")
	if err := topics.ValidateName(name); err != nil {
		return nil, errorf(http.StatusBadRequest, "%v", err)
	}
	if err := s.requireTopic(r, metadata.OpDescribe, name); err != nil {
		return nil, err
	}
	t, err := s.cfg.Topics.Topic(ctx, name)
	if err != nil {
		return nil, err
	}
	if local(r) { // a peer asks for the partitions this node leads, nothing more
		out := []PartitionView{}
		for p := range t.Partitions {
			if v, ok := s.ledView(metadata.TopicPartition{Topic: name, Partition: p}); ok {
				out = append(out, v)
			}
		}
		return out, nil
	}
	return s.partitionViews(ctx, r, t, nil)
}

// partitionViews builds the views of t's partitions (only those in want when it is not nil): the
// led ones here, the others from their leaders (one request per leader), the catalogs alongside.
func (s *Server) partitionViews(ctx context.Context, r *http.Request, t metadata.Topic, want map[int32]bool) ([]PartitionView, error) {
	views := make([]PartitionView, 0, t.Partitions)
	var elsewhere []int // indexes into views of partitions this node does not lead
	for p := range t.Partitions {
		if want != nil && !want[p] {
			continue
		}
		v, ok := s.ledView(metadata.TopicPartition{Topic: t.Name, Partition: p})
		if !ok {
			v.Partition = p
			elsewhere = append(elsewhere, len(views))
		}
		views = append(views, v)
	}
	// The leases are read only when some partition is led elsewhere (one node leads them all).
	var leaders map[metadata.TopicPartition]metadata.Lease
	if len(elsewhere) > 0 {
		var err error
		if leaders, err = s.cfg.Broker.Leaders(ctx); err != nil {
			return nil, err
		}
	}
	byLeader := map[int32][]int{} // leader → indexes into views of partitions it must answer
	for _, i := range elsewhere {
		p := views[i].Partition
		v := PartitionView{Partition: p, Leader: -1, Epoch: -1, LogStart: -1, LocalStart: -1, TieredEnd: -1, HighWatermark: -1, LogEnd: -1}
		switch l, held := leaders[metadata.TopicPartition{Topic: t.Name, Partition: p}]; {
		case held && l.Node != s.cfg.Broker.NodeID():
			v.Leader, v.Epoch = l.Node, l.Epoch
			byLeader[l.Node] = append(byLeader[l.Node], i)
		case held:
			v.Error = "this node holds the lease but does not serve the partition yet"
		default:
			v.Error = "no leader"
		}
		views[i] = v
	}

	var wg sync.WaitGroup
	var mu sync.Mutex // guards views' leader fields and errors written by the peer goroutines
	for id, idx := range byLeader {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var got []PartitionView
			err := func() error {
				n, err := s.nodeByID(ctx, id)
				if err != nil {
					return err
				}
				return s.askPeer(ctx, r, n, "/v1/topics/"+url.PathEscape(t.Name)+"/partitions", nil, &got)
			}()
			mu.Lock()
			defer mu.Unlock()
			byPart := map[int32]PartitionView{}
			for _, g := range got {
				byPart[g.Partition] = g
			}
			for _, i := range idx {
				switch g, ok := byPart[views[i].Partition]; {
				case err != nil:
					views[i].Error = err.Error()
				case !ok:
					views[i].Error = "the leader does not serve it (leadership moving)"
				default:
					views[i].leaderFields(g)
				}
			}
		}()
	}
	cats := s.readCatalogs(ctx, t.Name, views) // reads only views' Partition, which no peer writes
	wg.Wait()
	applyCatalogs(views, cats)
	sort.Slice(views, func(i, j int) bool { return views[i].Partition < views[j].Partition })
	return views, nil
}

// catalogLines are what one partition's catalog says.
type catalogLines struct {
	tiered, start, bytes int64
	segs                 int
	err                  error
}

// readCatalogs reads the catalogs of views' partitions, CatalogReads at a time.
func (s *Server) readCatalogs(ctx context.Context, topic string, views []PartitionView) []catalogLines {
	cats := make([]catalogLines, len(views))
	sem := make(chan struct{}, s.cfg.CatalogReads)
	var wg sync.WaitGroup
	for i := range views {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			cats[i] = s.catalogs.get(ctx, metadata.TopicPartition{Topic: topic, Partition: views[i].Partition})
		}()
	}
	wg.Wait()
	return cats
}

// applyCatalogs fills the catalog's fields of views, once the leaders have answered.
func applyCatalogs(views []PartitionView, cats []catalogLines) {
	for i, c := range cats {
		if c.err != nil {
			if !errors.Is(c.err, metadata.ErrNotFound) {
				views[i].Error = joinErr(views[i].Error, "catalog: "+c.err.Error())
			}
			continue
		}
		views[i].TieredEnd, views[i].ObjectBytes, views[i].ObjectSegments = c.tiered, c.bytes, c.segs
		if views[i].LogStart < 0 {
			views[i].LogStart = c.start
		}
	}
}

func joinErr(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

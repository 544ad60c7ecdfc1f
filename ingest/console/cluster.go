package console

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/strata-log/strata/metadata"
)

// NodeView is one live node on the cluster page.
type NodeView struct {
	ID        int32     `json:"id"`
	KafkaAddr string    `json:"kafka_addr"`
	HTTPAddr  string    `json:"http_addr"`
	StartedAt time.Time `json:"started_at"`
	// Version is the node's build as it answers GET /v1/node; VersionError says why it is missing.
	Version      string `json:"version,omitempty"`
	VersionError string `json:"version_error,omitempty"`
	Led          int    `json:"partitions_led"`
	Self         bool   `json:"self,omitempty"`
}

// Health is one dependency's answer to a probe.
type Health struct {
	OK        bool    `json:"ok"`
	Known     bool    `json:"known"`
	LatencyMs float64 `json:"latency_ms"`
	Error     string  `json:"error,omitempty"`
}

// ClusterView answers GET /v1/cluster.
type ClusterView struct {
	NodeID      int32      `json:"node_id"`
	Version     string     `json:"version"`
	Nodes       []NodeView `json:"nodes"`
	Topics      int        `json:"topics"`
	Partitions  int        `json:"partitions"`
	Leaderless  int        `json:"leaderless"`
	Metadata    Health     `json:"metadata"`
	ObjectStore Health     `json:"object_store"`
}

// nodeInfo answers GET /v1/node.
type nodeInfo struct {
	NodeID  int32  `json:"node_id"`
	Version string `json:"version"`
}

func (s *Server) node(context.Context, *http.Request) (any, error) {
	return nodeInfo{NodeID: s.cfg.Broker.NodeID(), Version: s.cfg.Version}, nil
}

func probe(ctx context.Context, f func(ctx context.Context) error) Health {
	if f == nil {
		return Health{}
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	start := time.Now()
	err := f(ctx)
	h := Health{OK: err == nil, Known: true, LatencyMs: float64(time.Since(start).Microseconds()) / 1000}
	if err != nil {
		h.Error = err.Error()
	}
	return h
}

func (s *Server) cluster(ctx context.Context, r *http.Request) (any, error) {
	v := ClusterView{NodeID: s.cfg.Broker.NodeID(), Version: s.cfg.Version}
	var (
		wg    sync.WaitGroup
		nodes []NodeView
	)
	// Metadata health is the node list's read: the cluster page needs it anyway.
	v.Metadata = probe(ctx, func(ctx context.Context) error {
		live, err := s.cfg.Broker.LiveNodes(ctx)
		for _, n := range live {
			nodes = append(nodes, NodeView{ID: n.ID, KafkaAddr: n.KafkaAddr, HTTPAddr: n.HTTPAddr, StartedAt: n.StartedAt,
				Self: n.ID == v.NodeID})
		}
		return err
	})
	if !v.Metadata.OK {
		return nil, errorf(http.StatusServiceUnavailable, "metadata: %s", v.Metadata.Error)
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		v.ObjectStore = probe(ctx, s.cfg.ObjectStore)
	}()
	for i := range nodes {
		if nodes[i].Self {
			nodes[i].Version = s.cfg.Version
			continue
		}
		wg.Add(1)
		go func(n *NodeView) {
			defer wg.Done()
			var info nodeInfo
			pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			defer cancel()
			if err := s.askPeer(pctx, r, nodeOf(*n), "/v1/node", nil, &info); err != nil {
				n.VersionError = err.Error()
				return
			}
			n.Version = info.Version
		}(&nodes[i])
	}
	led := map[int32]int{}
	var lerr error
	if len(nodes) == 1 && nodes[0].Self { // alone: what this node leads is every lease held
		led[v.NodeID] = len(s.cfg.Broker.LedPartitions())
	} else {
		var leaders map[metadata.TopicPartition]metadata.Lease
		leaders, lerr = s.cfg.Broker.Leaders(ctx)
		for _, l := range leaders {
			led[l.Node]++
		}
	}
	ts, terr := s.cfg.Topics.Topics(ctx)
	wg.Wait()
	if lerr != nil {
		return nil, lerr
	}
	if terr != nil {
		return nil, terr
	}
	for i := range nodes {
		nodes[i].Led = led[nodes[i].ID]
	}
	v.Nodes = nodes
	v.Topics = len(ts)
	for _, t := range ts {
		v.Partitions += int(t.Partitions)
	}
	held := 0
	for _, n := range led {
		held += n
	}
	v.Leaderless = max(0, v.Partitions-held)
	return v, nil
}

func nodeOf(v NodeView) metadata.Node {
	return metadata.Node{ID: v.ID, KafkaAddr: v.KafkaAddr, HTTPAddr: v.HTTPAddr, StartedAt: v.StartedAt}
}

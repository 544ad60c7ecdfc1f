package console

import (
	"context"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-log/strata/ingest/topics"
	"github.com/strata-log/strata/metadata"
)

// TopicSummary is one row of the topic list.
type TopicSummary struct {
	Name       string            `json:"name"`
	ID         string            `json:"id"`
	Partitions int32             `json:"partitions"`
	CreatedAt  time.Time         `json:"created_at"`
	Configs    map[string]string `json:"configs"` // explicitly set only
}

// ConfigView is one of a topic's configs, defaults included.
type ConfigView struct {
	Name      string `json:"name"`
	Value     string `json:"value"`
	Source    string `json:"source"`
	IsDefault bool   `json:"is_default"`
	ReadOnly  bool   `json:"read_only"`
}

// TopicView answers GET /v1/topics/{topic}.
type TopicView struct {
	TopicSummary
	AllConfigs []ConfigView `json:"all_configs"`
}

func summary(t metadata.Topic) TopicSummary {
	cfgs := t.Configs
	if cfgs == nil {
		cfgs = map[string]string{}
	}
	return TopicSummary{Name: t.Name, ID: t.ID.String(), Partitions: t.Partitions, CreatedAt: t.CreatedAt, Configs: cfgs}
}

func (s *Server) listTopics(ctx context.Context, r *http.Request) (any, error) {
	ts, err := s.cfg.Topics.Topics(ctx)
	if err != nil {
		return nil, err
	}
	q := strings.ToLower(r.URL.Query().Get("q"))
	out := make([]TopicSummary, 0, len(ts))
	for _, t := range ts {
		if (q == "" || strings.Contains(strings.ToLower(t.Name), q)) && s.allowed(r, metadata.OpDescribe, metadata.ResourceTopic, t.Name) {
			out = append(out, summary(t))
		}
	}
	return out, nil
}

func (s *Server) getTopic(ctx context.Context, r *http.Request) (any, error) {
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
	entries, err := s.cfg.Topics.DescribeTopicConfigs(ctx, name, nil)
	if err != nil {
		return nil, err
	}
	v := TopicView{TopicSummary: summary(t), AllConfigs: make([]ConfigView, 0, len(entries))}
	for _, e := range entries {
		v.AllConfigs = append(v.AllConfigs, ConfigView{Name: e.Name, Value: e.Value, Source: sourceName(e.Source),
			IsDefault: e.IsDefault, ReadOnly: e.ReadOnly})
	}
	sort.Slice(v.AllConfigs, func(i, j int) bool { return v.AllConfigs[i].Name < v.AllConfigs[j].Name })
	return v, nil
}

func sourceName(s kmsg.ConfigSource) string {
	switch s {
	case kmsg.ConfigSourceDynamicTopicConfig:
		return "topic"
	case kmsg.ConfigSourceDefaultConfig:
		return "default"
	case kmsg.ConfigSourceStaticBrokerConfig, kmsg.ConfigSourceDynamicBrokerConfig, kmsg.ConfigSourceDynamicDefaultBrokerConfig:
		return "broker"
	}
	return strings.ToLower(s.String())
}

// createRequest is POST /v1/topics's body.
type createRequest struct {
	Name       string            `json:"name"`
	Partitions *int32            `json:"partitions"`
	Configs    map[string]string `json:"configs"`
}

func (s *Server) createTopic(ctx context.Context, r *http.Request) (any, error) {
	var req createRequest
	if err := decodeBody(r, &req); err != nil {
		return nil, err
	}
	if req.Name == "" {
		return nil, errorf(http.StatusBadRequest, "name is required")
	}
	if !s.allowed(r, metadata.OpCreate, metadata.ResourceCluster, metadata.ClusterResourceName) {
		if err := s.requireTopic(r, metadata.OpCreate, req.Name); err != nil {
			return nil, err
		}
	}
	parts := int32(-1) // the node's default
	if req.Partitions != nil {
		if *req.Partitions < 1 {
			return nil, errorf(http.StatusBadRequest, "partitions %d: want at least 1", *req.Partitions)
		}
		parts = *req.Partitions
	}
	t, err := s.cfg.Topics.CreateTopic(ctx, topics.Spec{Name: req.Name, Partitions: parts, ReplicationFactor: -1, Configs: req.Configs})
	if err != nil {
		return nil, err
	}
	return created{summary(t)}, nil
}

// alterRequest is PATCH /v1/topics/{topic}/configs's body: a value sets a config, null resets
// it to its default; configs not named keep theirs.
type alterRequest struct {
	Configs map[string]*string `json:"configs"`
}

func (s *Server) alterConfigs(ctx context.Context, r *http.Request) (any, error) {
	name := r.PathValue("topic")
	if err := topics.ValidateName(name); err != nil {
		return nil, errorf(http.StatusBadRequest, "%v", err)
	}
	if err := s.requireTopic(r, metadata.OpAlterConfigs, name); err != nil {
		return nil, err
	}
	var req alterRequest
	if err := decodeBody(r, &req); err != nil {
		return nil, err
	}
	if len(req.Configs) == 0 {
		return nil, errorf(http.StatusBadRequest, "configs is empty: nothing to change")
	}
	ops := make([]topics.ConfigOp, 0, len(req.Configs))
	for k, v := range req.Configs {
		op := topics.ConfigOp{Name: k, Op: kmsg.IncrementalAlterConfigOpSet, Value: v}
		if v == nil {
			op.Op = kmsg.IncrementalAlterConfigOpDelete
		}
		ops = append(ops, op)
	}
	sort.Slice(ops, func(i, j int) bool { return ops[i].Name < ops[j].Name })
	if err := s.cfg.Topics.AlterTopicConfigs(ctx, name, ops, false); err != nil {
		return nil, err
	}
	return s.getTopic(ctx, r)
}

func (s *Server) deleteTopic(ctx context.Context, r *http.Request) (any, error) {
	name := r.PathValue("topic")
	if err := topics.ValidateName(name); err != nil {
		return nil, errorf(http.StatusBadRequest, "%v", err)
	}
	if err := s.requireTopic(r, metadata.OpDelete, name); err != nil {
		return nil, err
	}
	if err := s.cfg.Topics.DeleteTopic(ctx, name); err != nil {
		return nil, err
	}
	return map[string]string{"deleted": name}, nil
}

package kafka

import (
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-log/strata/ingest/group"
	"github.com/strata-log/strata/ingest/topics"
)

// Group configs (config resource type GROUP, KIP-848/KIP-932): the share.* configs of a share
// group, altered by IncrementalAlterConfigs and described by DescribeConfigs. Unknown names and
// invalid values answer INVALID_CONFIG. They live in the coordinator's memory (a deviation from
// Kafka, which keeps them in its metadata log).

func (s *Server) alterGroupConfigs(rr kmsg.IncrementalAlterConfigsRequestResource, validateOnly bool) (int16, *string) {
	ops := make([]group.ShareConfigOp, 0, len(rr.Configs))
	for _, c := range rr.Configs {
		ops = append(ops, group.ShareConfigOp{Name: c.Name, Op: int8(c.Op), Value: c.Value})
	}
	if err := s.groups.AlterShareGroupConfigs(rr.ResourceName, ops, validateOnly); err != nil {
		return kerr.InvalidConfig.Code, strp(strings.TrimPrefix(err.Error(), "group: "))
	}
	return 0, nil
}

func (s *Server) describeGroupConfigs(name string, names []string) []topics.ConfigEntry {
	var out []topics.ConfigEntry
	for _, e := range s.groups.DescribeShareGroupConfigs(name, names) {
		src, typ := kmsg.ConfigSourceGroupConfig, kmsg.ConfigTypeString
		if e.IsDefault {
			src = kmsg.ConfigSourceDefaultConfig
		}
		if strings.HasSuffix(e.Name, ".ms") || strings.HasSuffix(e.Name, ".limit") {
			typ = kmsg.ConfigTypeInt
		}
		out = append(out, topics.ConfigEntry{Name: e.Name, Value: e.Value, Type: typ, Source: src, IsDefault: e.IsDefault})
	}
	return out
}

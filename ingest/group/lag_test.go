package group

import (
	"context"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/metadata/natsmeta/natsmetatest"
)

func TestLagCollector(t *testing.T) {
	ctx := context.Background()
	st := natsmetatest.Store(t)
	if _, err := st.CreateTopic(ctx, metadata.Topic{Name: "t", Partitions: 2}); err != nil {
		t.Fatal(err)
	}
	err := st.CommitOffsets(ctx, "g", map[metadata.TopicPartition]metadata.OffsetCommit{
		{Topic: "t", Partition: 0}: {Offset: 40, LeaderEpoch: -1},
		{Topic: "t", Partition: 1}: {Offset: 5, LeaderEpoch: -1},
	})
	if err != nil {
		t.Fatal(err)
	}
	// This node leads only partition 0, whose high watermark is 100.
	end := func(_ context.Context, tp metadata.TopicPartition) (int64, bool) {
		return 100, tp.Partition == 0
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(NewLagCollector(st, end, 0, nil))
	want := `
# HELP strata_group_consumer_lag_records Records between a consumer group's committed offset and the partition's high watermark, exported by the partition's leader.
# TYPE strata_group_consumer_lag_records gauge
strata_group_consumer_lag_records{group="g",partition="0",topic="t"} 60
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "strata_group_consumer_lag_records"); err != nil {
		t.Fatal(err)
	}
}

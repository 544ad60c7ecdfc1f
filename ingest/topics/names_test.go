package topics

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/strata-log/strata/metadata"
)

// Names starting with "__" are Kafka's internal topics: neither CreateTopics nor auto-creation
// makes an ordinary topic of them.
func TestInternalNamesAreReserved(t *testing.T) {
	ctx := context.Background()
	a, _, st := newAdmin(t, Defaults{})
	for _, name := range []string{"__consumer_offsets", "__transaction_state", "__cluster_metadata", "__mine"} {
		_, err := a.CreateTopic(ctx, Spec{Name: name, Partitions: 1, ReplicationFactor: -1})
		wantErr(t, "create "+name, err, kerr.InvalidTopicException)
		if !strings.Contains(err.Error(), "reserved") {
			t.Errorf("create %s: %q does not say the name is reserved", name, err)
		}
		_, err = a.EnsureTopic(ctx, name, true)
		wantErr(t, "auto-create "+name, err, kerr.InvalidTopicException)
		if _, err := st.GetTopic(ctx, name); !errors.Is(err, metadata.ErrNotFound) {
			t.Errorf("%s was stored: %v", name, err)
		}
	}
	// One underscore, or two inside the name, is an ordinary name.
	for _, name := range []string{"_schemas", "a__b"} {
		if _, err := a.CreateTopic(ctx, Spec{Name: name, Partitions: 1, ReplicationFactor: -1}); err != nil {
			t.Errorf("create %s: %v", name, err)
		}
	}
}

// Shrinking or keeping the partition count is one clear INVALID_PARTITIONS message.
func TestCreatePartitionsMessages(t *testing.T) {
	ctx := context.Background()
	a, _, _ := newAdmin(t, Defaults{})
	if _, err := a.CreateTopic(ctx, Spec{Name: "p", Partitions: 4, ReplicationFactor: -1}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		count int32
		want  string
	}{
		{2, `topic "p" has 4 partitions and cannot shrink to 2: partitions can be added, not removed`},
		{4, `topic "p" already has 4 partitions`},
	} {
		for _, validateOnly := range []bool{false, true} {
			err := a.CreatePartitions(ctx, "p", tc.count, validateOnly)
			wantErr(t, "partitions", err, kerr.InvalidPartitions)
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%d partitions (validate only %v): %q, want %q", tc.count, validateOnly, err, tc.want)
			}
		}
	}
}

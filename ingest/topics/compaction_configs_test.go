package topics

import (
	"errors"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestCompactionConfigs checks the key compaction configs as Kafka does: INVALID_CONFIG naming the
// key for a bad value, and min.compaction.lag.ms above max.compaction.lag.ms refused whichever way
// the configs are set.
func TestCompactionConfigs(t *testing.T) {
	for _, tc := range []struct {
		name, value string
		ok          bool
	}{
		{"min.cleanable.dirty.ratio", "0", true},
		{"min.cleanable.dirty.ratio", "1", true},
		{"min.cleanable.dirty.ratio", "1.01", false},
		{"min.cleanable.dirty.ratio", "-0.1", false},
		{"min.cleanable.dirty.ratio", "NaN", false},
		{"min.cleanable.dirty.ratio", "half", false},
		{"min.compaction.lag.ms", "0", true},
		{"min.compaction.lag.ms", "-1", false},
		{"max.compaction.lag.ms", "1", true},
		{"max.compaction.lag.ms", "0", false},
		{"max.compaction.lag.ms", "9223372036854775807", true},
		{"delete.retention.ms", "0", true},
		{"delete.retention.ms", "-1", false},
		{"delete.retention.ms", "1d", false},
	} {
		err := ValidateConfig(tc.name, tc.value)
		if (err == nil) != tc.ok {
			t.Errorf("%s=%s: %v, want ok=%v", tc.name, tc.value, err, tc.ok)
		}
		if err != nil && (!errors.Is(err, kerr.InvalidConfig) || !strings.Contains(err.Error(), tc.name)) {
			t.Errorf("%s=%s: %v, want INVALID_CONFIG naming the key", tc.name, tc.value, err)
		}
	}

	conflict := map[string]string{"cleanup.policy": "compact", "min.compaction.lag.ms": "60000", "max.compaction.lag.ms": "1000"}
	if err := ValidateConfigs(conflict); !errors.Is(err, kerr.InvalidConfig) || !strings.Contains(err.Error(), "min.compaction.lag.ms") {
		t.Fatalf("min above max: %v", err)
	}
	conflict["max.compaction.lag.ms"] = "60000"
	if err := ValidateConfigs(conflict); err != nil {
		t.Fatalf("min equal to max: %v", err)
	}
	v := "10"
	err := applyIncremental(conflict, []ConfigOp{{Name: "max.compaction.lag.ms", Op: kmsg.IncrementalAlterConfigOpSet, Value: &v}}, Defaults{})
	if !errors.Is(err, kerr.InvalidConfig) {
		t.Fatalf("incremental set of max below min: %v", err)
	}
}

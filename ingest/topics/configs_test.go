package topics

import (
	"errors"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

func TestTopicConfigValidation(t *testing.T) {
	cases := []struct {
		name, value string
		ok          bool
	}{
		{"retention.ms", "-1", true},
		{"retention.ms", "-2", false},
		{"retention.ms", "1h", false},
		{"cleanup.policy", "compact,delete", true},
		{"cleanup.policy", "archive", false},
		{"max.message.bytes", "2147483648", false},
		{"segment.bytes", "13", false},
		{"min.cleanable.dirty.ratio", "0.3", true},
		{"preallocate", "yes", false},
		{"strata.durability", "object", true},
		{"strata.durability", "disk", false},
		{"strata.cold.format", "parquet", true},
		{"strata.cold.format", "segment", true},
		{"strata.cold.format", "orc", false},
		{"strata.value.format", "json", true},
		{"strata.value.format", "json-columns", true},
		{"strata.value.format", "avro", false},
		{"message.timestamp.type", "LogAppendTime", true},
		{"no.such.thing", "1", false},
	}
	for _, tc := range cases {
		err := ValidateConfig(tc.name, tc.value)
		if (err == nil) != tc.ok {
			t.Errorf("%s=%s: %v, want ok=%v", tc.name, tc.value, err, tc.ok)
		}
		if err != nil && !errors.Is(err, kerr.InvalidConfig) {
			t.Errorf("%s=%s: %v, want INVALID_CONFIG", tc.name, tc.value, err)
		}
		// The message names the bad key, so a client showing it tells the user what to fix.
		if err != nil && !strings.Contains(err.Error(), tc.name) {
			t.Errorf("%s=%s: %q does not name the key", tc.name, tc.value, err)
		}
	}
}

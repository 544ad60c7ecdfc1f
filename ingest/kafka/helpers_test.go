package kafka

import (
	"errors"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

// A response's error message carries the detail once; the code's text travels as the code.
func TestErrMsg(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("topics: unknown topic config %q: %w", "retention.mss", kerr.InvalidConfig), `unknown topic config "retention.mss"`},
		{fmt.Errorf("outer: %w", fmt.Errorf("topics: topic %q already has 4 partitions: %w", "p", kerr.InvalidPartitions)), `topic "p" already has 4 partitions`},
		{fmt.Errorf("topics: %q: %w", "Name", kerr.InvalidTopicException), `"Name"`},
		{kerr.InvalidConfig, kerr.InvalidConfig.Error()},
		{errors.New("store: timeout"), "store: timeout"}, // not for the client: as it is
	} {
		if got := *errMsg(tc.err); got != tc.want {
			t.Errorf("errMsg(%q) = %q, want %q", tc.err, got, tc.want)
		}
	}
	if errMsg(nil) != nil {
		t.Error("errMsg(nil) is not nil")
	}
}

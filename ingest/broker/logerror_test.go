package broker

import (
	"errors"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/strata-log/strata/metadata"
	"github.com/strata-log/strata/tier/hotlog"
)

// Hot-log failures reach clients as errors they retry, never UNKNOWN_SERVER_ERROR.
func TestLogErrorCodes(t *testing.T) {
	tp := metadata.TopicPartition{Topic: "t", Partition: 0}
	for _, tc := range []struct {
		err  error
		want int16
	}{
		{hotlog.ErrClosed, kerr.NotLeaderForPartition.Code},
		{fmt.Errorf("wrapped: %w", hotlog.ErrTruncated), kerr.NotLeaderForPartition.Code},
		{errors.New("fsync: input/output error"), kerr.KafkaStorageError.Code},
	} {
		if got := Code(logError(tp, "append", tc.err)); got != tc.want {
			t.Errorf("%v: code %d, want %d", tc.err, got, tc.want)
		}
	}
}

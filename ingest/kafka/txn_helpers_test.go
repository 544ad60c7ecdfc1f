package kafka

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
)

func TestFencedForVersion(t *testing.T) {
	fenced, old := kerr.ProducerFenced.Code, kerr.InvalidProducerEpoch.Code
	for _, tc := range []struct {
		code, version, since, want int16
	}{
		{fenced, 1, 2, old},
		{fenced, 2, 2, fenced},
		{fenced, 3, 4, old},
		{kerr.InvalidTxnState.Code, 0, 2, kerr.InvalidTxnState.Code},
		{0, 0, 2, 0},
	} {
		if got := fencedForVersion(tc.code, tc.version, tc.since); got != tc.want {
			t.Errorf("fencedForVersion(%d, v%d, since %d) = %d, want %d", tc.code, tc.version, tc.since, got, tc.want)
		}
	}
}

package txn

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-log/strata/metadata"
)

// LocalPartitions is the part of the node's broker (ingest/broker) that writes markers to the
// partitions this node leads.
type LocalPartitions interface {
	Leads(tp metadata.TopicPartition) bool
	WriteTxnMarker(ctx context.Context, tp metadata.TopicPartition, pid int64, epoch int16, commit bool, coordinatorEpoch int32) error
}

// NodeMarkers writes markers through each partition's leader: in process for the partitions this
// node leads, else as one WriteTxnMarkers request (key 27) that a franz-go client sends to the
// leaders it finds in the cluster's metadata. Partitions whose write failed with a retriable
// error (leadership moving, a leader not yet serving) are tried again, with backoff, until ctx
// ends. A partition that no longer exists (its topic was deleted) needs no marker, as in Kafka.
type NodeMarkers struct {
	Local LocalPartitions
	// Client returns the client for remote leaders (created once, owned by the caller); nil when
	// the cluster is one node.
	Client func() (*kgo.Client, error)
}

var _ Markers = (*NodeMarkers)(nil)

// WriteMarkers implements Markers.
func (m *NodeMarkers) WriteMarkers(ctx context.Context, pid int64, epoch int16, commit bool, coordinatorEpoch int32, tps []metadata.TopicPartition) error {
	todo := tps
	for attempt := 0; ; attempt++ {
		var remote []metadata.TopicPartition
		var mu sync.Mutex
		var failed []metadata.TopicPartition
		var lastErr error
		var wg sync.WaitGroup
		for _, tp := range todo {
			if !m.Local.Leads(tp) {
				remote = append(remote, tp)
				continue
			}
			wg.Add(1)
			go func() { // joined below
				defer wg.Done()
				if err := m.Local.WriteTxnMarker(ctx, tp, pid, epoch, commit, coordinatorEpoch); err != nil && !errors.Is(err, kerr.UnknownTopicOrPartition) {
					mu.Lock()
					failed, lastErr = append(failed, tp), err
					mu.Unlock()
				}
			}()
		}
		if len(remote) > 0 {
			bad, err := m.writeRemote(ctx, pid, epoch, commit, coordinatorEpoch, remote)
			if err != nil {
				lastErr = err
			}
			failed = append(failed, bad...)
		}
		wg.Wait()
		if len(failed) == 0 {
			return nil
		}
		if fatal := fatalMarkerError(lastErr); fatal != nil {
			return fatal
		}
		todo = failed
		select {
		case <-ctx.Done():
			return fmt.Errorf("txn: markers for %d partitions not written: %w (last: %v)", len(failed), ctx.Err(), lastErr)
		case <-time.After(time.Duration(min(attempt+1, 10)) * 50 * time.Millisecond):
		}
	}
}

// fatalMarkerError is err if retrying cannot help (a producer epoch older than the partition's).
func fatalMarkerError(err error) error {
	if errors.Is(err, kerr.InvalidProducerEpoch) || errors.Is(err, kerr.ProducerFenced) {
		return err
	}
	return nil
}

// writeRemote sends one WriteTxnMarkers request for tps; kgo splits it by partition leader. It
// returns the partitions that failed.
func (m *NodeMarkers) writeRemote(ctx context.Context, pid int64, epoch int16, commit bool, coordinatorEpoch int32, tps []metadata.TopicPartition) ([]metadata.TopicPartition, error) {
	if m.Client == nil {
		return tps, fmt.Errorf("txn: %d partitions led elsewhere and no client for other nodes", len(tps))
	}
	cl, err := m.Client()
	if err != nil {
		return tps, fmt.Errorf("txn: client: %w", err)
	}
	req := kmsg.NewPtrWriteTxnMarkersRequest()
	mk := kmsg.NewWriteTxnMarkersRequestMarker()
	mk.ProducerID, mk.ProducerEpoch, mk.Committed, mk.CoordinatorEpoch = pid, epoch, commit, coordinatorEpoch
	byTopic := map[string]int{}
	for _, tp := range tps {
		i, ok := byTopic[tp.Topic]
		if !ok {
			i = len(mk.Topics)
			byTopic[tp.Topic] = i
			t := kmsg.NewWriteTxnMarkersRequestMarkerTopic()
			t.Topic = tp.Topic
			mk.Topics = append(mk.Topics, t)
		}
		mk.Topics[i].Partitions = append(mk.Topics[i].Partitions, tp.Partition)
	}
	req.Markers = append(req.Markers, mk)
	done := map[metadata.TopicPartition]bool{}
	var lastErr error
	for _, sh := range cl.RequestSharded(ctx, req) {
		if errors.Is(sh.Err, kerr.UnknownTopicOrPartition) {
			// Gone from the cluster's metadata: nothing to mark.
			for _, rm := range sh.Req.(*kmsg.WriteTxnMarkersRequest).Markers {
				for _, rt := range rm.Topics {
					for _, p := range rt.Partitions {
						done[metadata.TopicPartition{Topic: rt.Topic, Partition: p}] = true
					}
				}
			}
			continue
		}
		if sh.Err != nil {
			lastErr = sh.Err
			continue
		}
		resp := sh.Resp.(*kmsg.WriteTxnMarkersResponse)
		for _, rm := range resp.Markers {
			for _, rt := range rm.Topics {
				for _, rp := range rt.Partitions {
					tp := metadata.TopicPartition{Topic: rt.Topic, Partition: rp.Partition}
					if rp.ErrorCode == 0 || rp.ErrorCode == kerr.UnknownTopicOrPartition.Code {
						done[tp] = true
					} else {
						lastErr = kerr.ErrorForCode(rp.ErrorCode)
					}
				}
			}
		}
	}
	var failed []metadata.TopicPartition
	for _, tp := range tps {
		if !done[tp] {
			failed = append(failed, tp)
		}
	}
	return failed, lastErr
}

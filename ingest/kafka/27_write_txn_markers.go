package kafka

// WriteTxnMarkers (key 27), versions 0–1.
//
// Sent by a transaction coordinator on another node to the leader of a partition: each marker is
// appended to the partition as a control batch and answered once durable (as acks=all). A
// partition this node does not lead answers NOT_LEADER_OR_FOLLOWER (the coordinator retries with
// fresh metadata). Served only with a transaction coordinator.
//
// Deviations from Apache Kafka: the listener does not restrict it to inter-broker principals;
// v2 (the transaction version field of KIP-890 part 2) is not served. The coordinator epoch is
// the transaction's sequence (ingest/txn MarkerEpoch): a marker whose coordinator epoch is not
// newer than the producer's last marker in the partition is answered without being appended,
// where Kafka refuses an older one with TRANSACTION_COORDINATOR_FENCED.

import (
	"context"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-log/strata/metadata"
)

func init() {
	registerTxn(api{key: kmsg.WriteTxnMarkers.Int16(), minVersion: 0, maxVersion: 1, handle: handleWriteTxnMarkers})
}

func handleWriteTxnMarkers(ctx context.Context, s *Server, cc *clientConn, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.WriteTxnMarkersRequest)
	resp := req.ResponseKind().(*kmsg.WriteTxnMarkersResponse)
	denied := !s.authorizedCluster(cc, metadata.OpClusterAction)
	var wg sync.WaitGroup
	for _, m := range req.Markers {
		rm := kmsg.NewWriteTxnMarkersResponseMarker()
		rm.ProducerID = m.ProducerID
		for _, t := range m.Topics {
			rt := kmsg.NewWriteTxnMarkersResponseMarkerTopic()
			rt.Topic = t.Topic
			rt.Partitions = make([]kmsg.WriteTxnMarkersResponseMarkerTopicPartition, len(t.Partitions))
			for i, p := range t.Partitions {
				rp := &rt.Partitions[i]
				*rp = kmsg.NewWriteTxnMarkersResponseMarkerTopicPartition()
				rp.Partition = p
				if denied {
					rp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
					continue
				}
				wg.Add(1)
				go func() { // joined below, before the response is returned
					defer wg.Done()
					tp := metadata.TopicPartition{Topic: t.Topic, Partition: p}
					if err := s.broker.WriteTxnMarker(ctx, tp, m.ProducerID, m.ProducerEpoch, m.Committed, m.CoordinatorEpoch); err != nil {
						rp.ErrorCode = s.code(err, "write txn marker", "partition", tp)
					}
				}()
			}
			rm.Topics = append(rm.Topics, rt)
		}
		resp.Markers = append(resp.Markers, rm)
	}
	wg.Wait()
	return resp, nil
}

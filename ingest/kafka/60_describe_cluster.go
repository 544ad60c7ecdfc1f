package kafka

// DescribeCluster (key 60), versions 0–2.
//
// The live nodes of the node registry and the cluster id. Endpoint type 2 (controllers, v1+)
// answers UNSUPPORTED_ENDPOINT_TYPE as a broker does. Fenced brokers (v2, KIP-1073) are never
// listed: a node whose registration lapsed is not in the registry, so none is reported fenced.
//
// Deviations from Apache Kafka: Strata has no controller (metadata lives in the metadata
// service), so the lowest live node id is reported as the "controller"; authorized operations are
// computed only with an authorizer.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-log/strata/metadata"
)

func init() {
	register(api{key: kmsg.DescribeCluster.Int16(), minVersion: 0, maxVersion: 2, handle: handleDescribeCluster})
}

func handleDescribeCluster(ctx context.Context, s *Server, cc *clientConn, kreq kmsg.Request) (kmsg.Response, error) {
	req := kreq.(*kmsg.DescribeClusterRequest)
	resp := req.ResponseKind().(*kmsg.DescribeClusterResponse)
	resp.EndpointType = req.EndpointType
	if req.Version >= 1 && req.EndpointType != 1 {
		resp.ErrorCode = kerr.UnsupportedEndpointType.Code
		return resp, nil
	}
	nodes, err := s.liveNodes(ctx)
	if err != nil {
		resp.ErrorCode, resp.ErrorMessage = s.code(err, "describe cluster"), errMsg(err)
		return resp, nil
	}
	resp.ClusterID, resp.ControllerID = s.cfg.ClusterID, nodes[0].ID
	if req.IncludeClusterAuthorizedOperations {
		if bits, ok := s.authorizedOps(cc, metadata.ResourceCluster, metadata.ClusterResourceName); ok {
			resp.ClusterAuthorizedOperations = bits
		}
	}
	for _, n := range nodes {
		b := kmsg.NewDescribeClusterResponseBroker()
		b.NodeID = n.ID
		b.Host, b.Port = splitHostPort(n.KafkaAddr)
		if n.Rack != "" {
			b.Rack = strp(n.Rack)
		}
		resp.Brokers = append(resp.Brokers, b)
	}
	return resp, nil
}

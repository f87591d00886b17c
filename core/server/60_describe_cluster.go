package server

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// endpointTypeBrokers is DescribeCluster's endpoint type for brokers;
// 2, the controllers, is for the controller listener Weir does not expose
// to clients.
const endpointTypeBrokers = 1

// handleDescribeCluster answers the cluster ID, the live brokers and the
// controller, which is this node while the controller is local.
// Authorized operations are not computed (Weir has no ACLs yet): they stay
// at Kafka's "not provided" value.
func (b *Broker) handleDescribeCluster(_ context.Context, _ *requestContext, kreq kmsg.Request) (any, error) {
	req := kreq.(*kmsg.DescribeClusterRequest)
	resp := respond[*kmsg.DescribeClusterResponse](req)
	resp.EndpointType = endpointTypeBrokers
	if req.Version >= 1 && req.EndpointType != endpointTypeBrokers {
		err := refuse(kerr.UnsupportedEndpointType, "endpoint type %d is not supported; a broker describes its brokers (1)", req.EndpointType)
		resp.ErrorCode, resp.ErrorMessage = errorCode(err), errorMessage(err)
		return resp, nil
	}
	img := b.opts.Metadata.Image()
	resp.ClusterID = img.ClusterID()
	resp.ControllerID = b.controllerID()
	for _, br := range img.Brokers() {
		if br.Fenced {
			continue
		}
		rb := kmsg.NewDescribeClusterResponseBroker()
		rb.NodeID, rb.Host, rb.Port = br.ID, br.Host, br.Port
		if br.Rack != "" {
			rack := br.Rack
			rb.Rack = &rack
		}
		resp.Brokers = append(resp.Brokers, rb)
	}
	return resp, nil
}

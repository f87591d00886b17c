package server

import (
	"context"
	"slices"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// handleListPartitionReassignments lists the ongoing reassignments — all
// of them, or those of the listed partitions — with each partition's
// replicas (target first, then those being removed) and the replicas
// being added and removed.
func (b *Broker) handleListPartitionReassignments(_ context.Context, _ *requestContext, kreq kmsg.Request) (any, error) {
	req := kreq.(*kmsg.ListPartitionReassignmentsRequest)
	resp := respond[*kmsg.ListPartitionReassignmentsResponse](req)
	var want map[string][]int32
	if req.Topics != nil {
		want = map[string][]int32{}
		for _, rt := range req.Topics {
			want[rt.Topic] = append(want[rt.Topic], rt.Partitions...)
		}
	}
	byTopic := map[string]int{}
	for _, r := range b.opts.Metadata.Image().Reassignments() {
		if want != nil && !slices.Contains(want[r.Topic], r.Partition) {
			continue
		}
		i, ok := byTopic[r.Topic]
		if !ok {
			i = len(resp.Topics)
			byTopic[r.Topic] = i
			rt := kmsg.NewListPartitionReassignmentsResponseTopic()
			rt.Topic = r.Topic
			resp.Topics = append(resp.Topics, rt)
		}
		rp := kmsg.NewListPartitionReassignmentsResponseTopicPartition()
		rp.Partition = r.Partition
		rp.Replicas = slices.Clone(r.Replicas)
		rp.AddingReplicas = slices.Clone(r.AddingReplicas)
		rp.RemovingReplicas = slices.Clone(r.RemovingReplicas)
		resp.Topics[i].Partitions = append(resp.Topics[i].Partitions, rp)
	}
	return resp, nil
}

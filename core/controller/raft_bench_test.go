package controller

import (
	"context"
	"fmt"
	"testing"
)

// bigImage returns brokers 1..6 and topics topics of partitions
// partitions each, RF 3.
func bigImage(b *testing.B, topics, partitions int) *Image {
	img := mustApply(b, NewImage(), InitCluster{ClusterID: "c"})
	for id := int32(1); id <= 6; id++ {
		img = mustApply(b, img, RegisterBroker{ID: id, Host: "h", Port: 9092})
	}
	for i := range topics {
		as, err := AssignReplicas(img.Brokers(), partitions, 3, i)
		if err != nil {
			b.Fatal(err)
		}
		parts := make([]PartitionAssignment, len(as))
		for j, a := range as {
			parts[j].Replicas = a
		}
		var tid TopicID
		tid[0], tid[1], tid[2] = 1, byte(i>>8), byte(i)
		img = mustApply(b, img, CreateTopic{Name: fmt.Sprintf("topic-%d", i), ID: tid, Partitions: parts})
	}
	return img
}

// BenchmarkApplyAlterPartition: one ISR change in a cluster of 1,000
// topics of 10 partitions.
func BenchmarkApplyAlterPartition(b *testing.B) {
	img := bigImage(b, 1000, 10)
	t := img.Topics()[500]
	p := t.Partitions[3]
	shrink := AlterPartition{TopicID: t.ID, Partition: 3, BrokerID: p.Leader, BrokerEpoch: epoch(img, p.Leader), ISR: []int32{p.Leader}}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := img.Apply(shrink); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkApplyFenceBroker: fencing one of 6 brokers in a cluster of
// 1,000 topics of 10 partitions (5,000 partition changes).
func BenchmarkApplyFenceBroker(b *testing.B) {
	img := bigImage(b, 1000, 10)
	cmd := fence(img, 1)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := img.Apply(cmd); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRaftSubmit: sequential Submits on the leader of one and of
// three voters, and forwarded from a follower of three voters (which
// waits until its own image has the command). Each is fsynced by bbolt.
func BenchmarkRaftSubmit(b *testing.B) {
	for _, tc := range []struct {
		name   string
		voters int
		leader bool
	}{{"leader-1-voter", 1, true}, {"leader-3-voters", 3, true}, {"follower-3-voters", 3, false}} {
		b.Run(tc.name, func(b *testing.B) {
			nodes := startCluster(b, tc.voters, nil)
			l := leader(b, nodes)
			n := l
			if !tc.leader {
				n = followerOf(nodes, l)
			}
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := n.r.Submit(ctx, AllocateProducerIDs{Count: 1}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

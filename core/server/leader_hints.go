package server

import (
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/weirmq/weir/core/controller"
)

// Leader hints (KIP-951): a produce or fetch that reached a broker that
// does not lead the partition is answered with the current leader and its
// endpoint, so the client moves without a metadata round trip.

// leaderHint is a partition's leader as the metadata has it.
type leaderHint struct {
	leader, epoch int32 // -1 when unknown
	broker        controller.Broker
	known         bool // broker is the leader's registration
}

// leaderHint returns the current leader of the partition from the latest
// image.
func (b *Broker) leaderHint(topic string, index int32) leaderHint {
	h := leaderHint{leader: -1, epoch: -1}
	img := b.opts.Metadata.Image()
	t, ok := img.TopicByName(topic)
	if !ok || index < 0 || int(index) >= len(t.Partitions) {
		return h
	}
	pa := t.Partitions[index]
	h.leader, h.epoch = pa.Leader, pa.LeaderEpoch
	if pa.Leader >= 0 {
		h.broker, h.known = img.Broker(pa.Leader)
	}
	return h
}

// leaderHintCode reports whether a partition error carries the current
// leader: NOT_LEADER_OR_FOLLOWER and FENCED_LEADER_EPOCH, as Kafka sends it.
func leaderHintCode(code int16) bool {
	return code == kerr.NotLeaderForPartition.Code || code == kerr.FencedLeaderEpoch.Code
}

// partitionExists reports whether the metadata has the partition (hosted
// here or not).
func (b *Broker) partitionExists(topic string, index int32) bool {
	t, ok := b.opts.Metadata.Image().TopicByName(topic)
	return ok && index >= 0 && int(index) < len(t.Partitions)
}

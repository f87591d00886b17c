package server

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirmq/weir/core/controller"
	"github.com/weirmq/weir/core/group"
)

// handleConsumerGroupHeartbeat serves KIP-848's heartbeat: members join,
// heartbeat and leave a consumer group, and the coordinator hands each
// its part of the target assignment it computes with a server assignor
// (Options.Assignors). v1 (member ids made by the client, regular
// expression subscriptions) and v0 are served.
func (b *Broker) handleConsumerGroupHeartbeat(ctx context.Context, rc *requestContext, kreq kmsg.Request) (any, error) {
	return b.groups.ConsumerGroupHeartbeat(ctx, kreq.(*kmsg.ConsumerGroupHeartbeatRequest), groupClient(rc)), nil
}

// groupTopics is the current metadata image as consumer groups see
// topics.
func (b *Broker) groupTopics() group.Topics {
	return imageTopics{b.opts.Metadata.Image()}
}

// imageTopics is a metadata image as a group.Topics.
type imageTopics struct{ img *controller.Image }

// Version is the image's offset: every change makes a new one.
func (t imageTopics) Version() int64 { return t.img.Offset() }

func (t imageTopics) Topic(name string) (group.TopicInfo, bool) {
	ct, ok := t.img.TopicByName(name)
	return topicInfo(ct), ok
}

func (t imageTopics) TopicByID(id [16]byte) (group.TopicInfo, bool) {
	ct, ok := t.img.TopicByID(controller.TopicID(id))
	return topicInfo(ct), ok
}

func (t imageTopics) Names() []string { return t.img.TopicNames() }

func topicInfo(t controller.Topic) group.TopicInfo {
	return group.TopicInfo{Name: t.Name, ID: t.ID, Partitions: int32(len(t.Partitions))}
}

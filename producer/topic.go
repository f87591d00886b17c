package producer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ConfigPartitioner is the topic config naming a topic's partitioner (as
// core/config.ConfigWeirPartitioner; this package does not import core).
const ConfigPartitioner = "weir.partitioner"

// DefaultPartitioner is the partitioner of a topic whose weir.partitioner
// is empty or unset (partitioners.Default).
const DefaultPartitioner = "murmur2"

// ErrUnknownTopic is returned (wrapped) when a topic does not exist and is
// not created.
var ErrUnknownTopic = errors.New("producer: unknown topic")

// TopicInfo describes a topic as a producer needs it.
type TopicInfo struct {
	Topic      string
	Partitions int32 // the partition count, at least 1
	// Partitioner is the topic's weir.partitioner, DefaultPartitioner
	// when the topic leaves it empty or the broker does not know the
	// config (a broker other than Weir).
	Partitioner string
}

// DescribeTopic asks the cluster behind cl for topic's partition count
// (Metadata) and weir.partitioner (DescribeConfigs). With autoCreate the
// Metadata request asks the broker to create a missing topic, which it
// does when auto.create.topics.enable is on.
//
// It returns an error wrapping ErrUnknownTopic when the topic does not
// exist (and was not created), the Kafka error of either request, or
// ctx's error. It is safe for concurrent use if cl is.
func DescribeTopic(ctx context.Context, cl *kgo.Client, topic string, autoCreate bool) (TopicInfo, error) {
	info := TopicInfo{Topic: topic}
	for attempt := 0; ; attempt++ {
		req := kmsg.NewPtrMetadataRequest()
		rt := kmsg.NewMetadataRequestTopic()
		rt.Topic = kmsg.StringPtr(topic)
		req.Topics = append(req.Topics, rt)
		req.AllowAutoTopicCreation = autoCreate
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			return info, fmt.Errorf("producer: metadata for topic %q: %w", topic, err)
		}
		if len(resp.Topics) != 1 {
			return info, fmt.Errorf("producer: metadata for topic %q: the broker answered %d topics", topic, len(resp.Topics))
		}
		t := resp.Topics[0]
		err = kerr.ErrorForCode(t.ErrorCode)
		switch {
		case err == nil && len(t.Partitions) > 0:
			info.Partitions = int32(len(t.Partitions))
		case errors.Is(err, kerr.UnknownTopicOrPartition):
			// A broker that creates the topic answers LEADER_NOT_AVAILABLE
			// (or the topic) instead.
			if autoCreate {
				return info, fmt.Errorf("%w %q (auto-creation is off on the broker)", ErrUnknownTopic, topic)
			}
			return info, fmt.Errorf("%w %q", ErrUnknownTopic, topic)
		case err == nil || kerr.IsRetriable(err):
			// Just created, or leaders not elected yet.
			if attempt >= 50 {
				return info, fmt.Errorf("producer: topic %q has no partitions ready: %v", topic, err)
			}
			select {
			case <-ctx.Done():
				return info, ctx.Err()
			case <-time.After(20 * time.Millisecond):
			}
			continue
		default:
			return info, fmt.Errorf("producer: metadata for topic %q: %w", topic, err)
		}
		break
	}
	configs, err := kadm.NewClient(cl).DescribeTopicConfigs(ctx, topic)
	if err == nil {
		var rc kadm.ResourceConfig
		if rc, err = configs.On(topic, nil); err == nil {
			err = rc.Err
		}
		for _, c := range rc.Configs {
			if c.Key == ConfigPartitioner && c.Value != nil {
				info.Partitioner = *c.Value
			}
		}
	}
	if err != nil {
		return info, fmt.Errorf("producer: configs of topic %q: %w", topic, err)
	}
	if info.Partitioner == "" {
		info.Partitioner = DefaultPartitioner
	}
	return info, nil
}

package server

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirmq/weir/core/controller"
)

// handleMetadata answers Metadata: the brokers, the cluster and controller
// ids, and the requested topics (all of them for a null list), creating
// unknown topics when the client allows it and auto.create.topics.enable
// is on.
func (b *Broker) handleMetadata(ctx context.Context, rc *requestContext, kreq kmsg.Request) (any, error) {
	req := kreq.(*kmsg.MetadataRequest)
	resp := respond[*kmsg.MetadataResponse](req)
	img := b.opts.Metadata.Image()
	for _, br := range img.Brokers() {
		if br.Fenced {
			continue
		}
		mb := kmsg.NewMetadataResponseBroker()
		mb.NodeID, mb.Host, mb.Port = br.ID, br.Host, br.Port
		if br.Rack != "" {
			rack := br.Rack
			mb.Rack = &rack
		}
		resp.Brokers = append(resp.Brokers, mb)
	}
	clusterID := img.ClusterID()
	resp.ClusterID = &clusterID
	resp.ControllerID = b.controllerID()

	var topics []controller.Topic
	all := req.Topics == nil || (req.Version == 0 && len(req.Topics) == 0)
	if all {
		topics = img.Topics()
	}
	autoCreate := (req.Version < 4 || req.AllowAutoTopicCreation) && b.brokerConfig().AutoCreateTopicsEnable
	for _, rt := range req.Topics {
		var (
			t   controller.Topic
			ok  bool
			err error
		)
		switch {
		case rt.Topic != nil:
			t, ok = img.TopicByName(*rt.Topic)
			if !ok && autoCreate {
				if t, err = b.autoCreateTopic(ctx, *rt.Topic); err == nil {
					ok = true
				}
			}
		case rt.TopicID != [16]byte{}:
			t, ok = img.TopicByID(controller.TopicID(rt.TopicID))
		}
		if !ok {
			mt := kmsg.NewMetadataResponseTopic()
			mt.Topic, mt.TopicID = rt.Topic, rt.TopicID
			mt.ErrorCode = kerr.UnknownTopicOrPartition.Code
			if err != nil {
				mt.ErrorCode = errorCode(err)
			}
			if rt.Topic == nil {
				mt.ErrorCode = kerr.UnknownTopicID.Code
			}
			resp.Topics = append(resp.Topics, mt)
			continue
		}
		topics = append(topics, t)
	}
	for _, t := range topics {
		resp.Topics = append(resp.Topics, metadataTopic(img, t))
	}
	return resp, nil
}

// metadataTopic describes a topic as the image has it: each partition's
// leader and leader epoch, replicas, ISR, and as offline the replicas
// whose broker is fenced or gone.
func metadataTopic(img *controller.Image, t controller.Topic) kmsg.MetadataResponseTopic {
	mt := kmsg.NewMetadataResponseTopic()
	name := t.Name
	mt.Topic = &name
	mt.TopicID = t.ID
	mt.IsInternal = len(t.Name) > 2 && t.Name[:2] == "__"
	for i, p := range t.Partitions {
		mp := kmsg.NewMetadataResponseTopicPartition()
		mp.Partition = int32(i)
		mp.Leader, mp.LeaderEpoch = p.Leader, p.LeaderEpoch
		mp.Replicas, mp.ISR = p.Replicas, p.ISR
		mp.OfflineReplicas = []int32{}
		for _, id := range p.Replicas {
			if br, ok := img.Broker(id); !ok || br.Fenced {
				mp.OfflineReplicas = append(mp.OfflineReplicas, id)
			}
		}
		if p.Leader < 0 {
			mp.ErrorCode = kerr.LeaderNotAvailable.Code
		}
		mt.Partitions = append(mt.Partitions, mp)
	}
	return mt
}

// autoCreateTopic creates a topic with num.partitions and
// default.replication.factor, as a Metadata request for an unknown topic
// does when auto.create.topics.enable is on. Losing a race with another
// creator is fine: the topic exists either way.
func (b *Broker) autoCreateTopic(ctx context.Context, name string) (controller.Topic, error) {
	bc := b.brokerConfig()
	err := b.createTopic(ctx, name, bc.NumPartitions, int16(bc.DefaultReplicationFactor), nil, nil)
	if err != nil && !errors.Is(err, controller.ErrTopicExists) {
		return controller.Topic{}, err
	}
	t, ok := b.opts.Metadata.Image().TopicByName(name)
	if !ok {
		return controller.Topic{}, fmt.Errorf("topic %q vanished after creation", name)
	}
	b.logger.Info("auto-created topic", "topic", name, "partitions", len(t.Partitions))
	return t, nil
}

// createTopic submits a CreateTopic: explicit assignments when given,
// otherwise partitions × replicationFactor spread over the live brokers
// (-1 for either means the broker default).
func (b *Broker) createTopic(ctx context.Context, name string, partitions int32, replicationFactor int16, assignments [][]int32, configs map[string]string) error {
	cmd, err := b.createTopicCommand(name, partitions, replicationFactor, assignments, configs)
	if err != nil {
		return err
	}
	_, err = b.opts.Metadata.Submit(ctx, cmd)
	return err
}

func (b *Broker) createTopicCommand(name string, partitions int32, replicationFactor int16, assignments [][]int32, configs map[string]string) (*controller.CreateTopic, error) {
	bc := b.brokerConfig()
	if len(assignments) == 0 {
		if partitions == -1 {
			partitions = bc.NumPartitions
		}
		if replicationFactor == -1 {
			replicationFactor = int16(bc.DefaultReplicationFactor)
		}
		if partitions < 1 {
			return nil, fmt.Errorf("%w: %d partitions requested for %q; at least 1", controller.ErrInvalidPartitions, partitions, name)
		}
		if replicationFactor < 1 {
			return nil, fmt.Errorf("%w: replication factor %d for %q; at least 1", controller.ErrInvalidReplicationFactor, replicationFactor, name)
		}
		var err error
		assignments, err = controller.AssignReplicas(b.opts.Metadata.Image().Brokers(), int(partitions), int(replicationFactor), 0)
		if err != nil {
			return nil, err
		}
	}
	cmd := &controller.CreateTopic{Name: name, Configs: configs}
	if _, err := rand.Read(cmd.ID[:]); err != nil {
		return nil, err
	}
	for _, a := range assignments {
		cmd.Partitions = append(cmd.Partitions, controller.PartitionAssignment{Replicas: a})
	}
	return cmd, nil
}

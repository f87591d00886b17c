package server

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirmq/weir/core/controller"
)

// handleCreateTopics creates topics, each with a partition count and
// replication factor (-1: num.partitions and default.replication.factor)
// or with explicit replica assignments, and config overrides checked
// against the topic config table. With validate_only every check runs —
// the controller's too, by applying the command to the current image —
// and nothing is created. From v5 the answer carries the partition count,
// replication factor and every config of the topic, as DescribeConfigs
// would list them; from v7 its topic ID.
func (b *Broker) handleCreateTopics(ctx context.Context, _ *requestContext, kreq kmsg.Request) (any, error) {
	req := kreq.(*kmsg.CreateTopicsRequest)
	resp := respond[*kmsg.CreateTopicsResponse](req)
	names := make([]string, len(req.Topics))
	for i, rt := range req.Topics {
		names[i] = rt.Topic
	}
	dups := duplicates(names)
	// Validation applies each topic to the image the earlier ones made, so
	// that a request is judged as a whole, as creating it would be.
	img := b.opts.Metadata.Image()
	for _, rt := range req.Topics {
		st := kmsg.NewCreateTopicsResponseTopic()
		st.Topic = rt.Topic
		var err error
		if dups[rt.Topic] {
			err = refuse(kerr.InvalidRequest, "topic %q is listed more than once in the request", rt.Topic)
		} else {
			if !req.ValidateOnly {
				img = b.opts.Metadata.Image()
			}
			img, err = b.createOne(ctx, req, rt, img, &st)
		}
		if err != nil {
			st.ErrorCode, st.ErrorMessage = errorCode(err), errorMessage(err)
			b.logger.Debug("create topic refused", "topic", rt.Topic, "err", err)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

// createOne checks and (unless validate_only) creates one topic, filling
// in st on success. It returns the image with the topic added.
func (b *Broker) createOne(ctx context.Context, req *kmsg.CreateTopicsRequest, rt kmsg.CreateTopicsRequestTopic, img *controller.Image, st *kmsg.CreateTopicsResponseTopic) (*controller.Image, error) {
	name := rt.Topic
	if err := controller.ValidateTopicName(name); err != nil {
		return img, err
	}
	if _, ok := img.TopicByName(name); ok {
		return img, refuse(kerr.TopicAlreadyExists, "topic %q already exists", name)
	}
	configs, err := createConfigs(rt)
	if err != nil {
		return img, err
	}
	entries, err := b.opts.Config.DescribeTopic(configs)
	if err != nil {
		return img, refuse(kerr.InvalidConfig, "topic %q: invalid config %v", name, err)
	}
	if err := b.checkTopicPlugins(`topic "`+name+`"`, configs); err != nil {
		return img, err
	}
	assignments, err := requestedAssignments(rt)
	if err != nil {
		return img, err
	}
	cmd, err := b.createTopicCommand(name, rt.NumPartitions, rt.ReplicationFactor, assignments, configs)
	if err != nil {
		return img, err
	}
	next, _, err := img.Apply(cmd)
	if err != nil {
		return img, err
	}
	if !req.ValidateOnly {
		if _, err := b.submit(ctx, req.TimeoutMillis, cmd); err != nil {
			return img, err
		}
		st.TopicID = cmd.ID
		b.logger.Info("topic created", "topic", name, "partitions", len(cmd.Partitions))
	}
	st.NumPartitions = int32(len(cmd.Partitions))
	st.ReplicationFactor = int16(len(cmd.Partitions[0].Replicas))
	for _, e := range entries {
		c := kmsg.NewCreateTopicsResponseTopicConfig()
		c.Name = e.Name
		v := e.Value.String()
		c.Value = &v
		c.Source = int8(e.Source)
		st.Configs = append(st.Configs, c)
	}
	return next, nil
}

// createConfigs returns the request's config overrides. A null value
// leaves the config unset, as if it were not listed.
func createConfigs(rt kmsg.CreateTopicsRequestTopic) (map[string]string, error) {
	if len(rt.Configs) == 0 {
		return nil, nil
	}
	configs := make(map[string]string, len(rt.Configs))
	seen := make(map[string]bool, len(rt.Configs))
	for _, c := range rt.Configs {
		if seen[c.Name] {
			return nil, refuse(kerr.InvalidConfig, "topic %q: config %q is given more than once", rt.Topic, c.Name)
		}
		seen[c.Name] = true
		if c.Value != nil {
			configs[c.Name] = *c.Value
		}
	}
	return configs, nil
}

// requestedAssignments returns the explicit replica assignments, indexed
// by partition, or nil when the request gives a count and replication
// factor instead.
func requestedAssignments(rt kmsg.CreateTopicsRequestTopic) ([][]int32, error) {
	if len(rt.ReplicaAssignment) == 0 {
		return nil, nil
	}
	if rt.NumPartitions != -1 || rt.ReplicationFactor != -1 {
		return nil, refuse(kerr.InvalidRequest, "topic %q: replica assignments are given, so the partition count and replication factor must be -1 (they are %d and %d)",
			rt.Topic, rt.NumPartitions, rt.ReplicationFactor)
	}
	n := len(rt.ReplicaAssignment)
	out := make([][]int32, n)
	seen := make([]bool, n)
	for _, a := range rt.ReplicaAssignment {
		if a.Partition < 0 || int(a.Partition) >= n || seen[a.Partition] {
			return nil, refuse(kerr.InvalidReplicaAssignment, "topic %q: the assigned partitions must be numbered 0 to %d, each once (got partition %d)", rt.Topic, n-1, a.Partition)
		}
		seen[a.Partition] = true
		out[a.Partition] = a.Replicas
	}
	return out, nil
}

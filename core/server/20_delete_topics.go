package server

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirmq/weir/core/controller"
)

// handleDeleteTopics deletes topics by name or (v6) by topic ID. The
// metadata change is all this does: the broker's reconcile, watching the
// controller, closes the partitions and deletes their logs.
//
// Internal topics ("__" prefix) are not refused: Kafka's KRaft controller
// deletes __consumer_offsets when asked (only its CLI tool refuses), and
// the coordinator creates it again on demand. delete.topic.enable = false
// refuses everything, with INVALID_REQUEST before v3 and
// TOPIC_DELETION_DISABLED from v3, as Kafka.
func (b *Broker) handleDeleteTopics(ctx context.Context, _ *requestContext, kreq kmsg.Request) (any, error) {
	req := kreq.(*kmsg.DeleteTopicsRequest)
	resp := respond[*kmsg.DeleteTopicsResponse](req)
	topics := req.Topics
	if req.Version < 6 {
		topics = make([]kmsg.DeleteTopicsRequestTopic, len(req.TopicNames))
		for i := range req.TopicNames {
			topics[i] = kmsg.NewDeleteTopicsRequestTopic()
			topics[i].Topic = &req.TopicNames[i]
		}
	}
	var names, ids []string
	for _, rt := range topics {
		switch {
		case rt.Topic != nil:
			names = append(names, *rt.Topic)
		case rt.TopicID != [16]byte{}:
			ids = append(ids, string(rt.TopicID[:]))
		}
	}
	dupNames, dupIDs := duplicates(names), duplicates(ids)
	enabled := b.brokerConfig().DeleteTopicEnable
	for _, rt := range topics {
		st := kmsg.NewDeleteTopicsResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		var err error
		switch {
		case !enabled && req.Version < 3:
			err = refuse(kerr.InvalidRequest, "topic deletion is disabled (delete.topic.enable = false)")
		case !enabled:
			err = refuse(kerr.TopicDeletionDisabled, "topic deletion is disabled (delete.topic.enable = false)")
		case rt.Topic != nil && rt.TopicID != [16]byte{}:
			err = refuse(kerr.InvalidRequest, "give a topic name or a topic ID, not both")
		case rt.Topic == nil && rt.TopicID == [16]byte{}:
			err = refuse(kerr.InvalidRequest, "neither a topic name nor a topic ID is given")
		case rt.Topic != nil && dupNames[*rt.Topic]:
			err = refuse(kerr.InvalidRequest, "topic %q is listed more than once in the request", *rt.Topic)
		case rt.Topic == nil && dupIDs[string(rt.TopicID[:])]:
			err = refuse(kerr.InvalidRequest, "topic ID %s is listed more than once in the request", controller.TopicID(rt.TopicID))
		default:
			var t controller.Topic
			t, err = b.deleteOne(ctx, req.TimeoutMillis, rt)
			if err == nil {
				name := t.Name
				st.Topic, st.TopicID = &name, t.ID
			}
		}
		if err != nil {
			st.ErrorCode, st.ErrorMessage = errorCode(err), errorMessage(err)
			b.logger.Debug("delete topic refused", "topic", rt.Topic, "err", err)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp, nil
}

// deleteOne deletes the topic named or identified by rt.
func (b *Broker) deleteOne(ctx context.Context, timeoutMs int32, rt kmsg.DeleteTopicsRequestTopic) (controller.Topic, error) {
	img := b.opts.Metadata.Image()
	var (
		t  controller.Topic
		ok bool
	)
	if rt.Topic != nil {
		if t, ok = img.TopicByName(*rt.Topic); !ok {
			return t, refuse(kerr.UnknownTopicOrPartition, "topic %q does not exist", *rt.Topic)
		}
	} else if t, ok = img.TopicByID(controller.TopicID(rt.TopicID)); !ok {
		return t, refuse(kerr.UnknownTopicID, "no topic has ID %s", controller.TopicID(rt.TopicID))
	}
	if _, err := b.submit(ctx, timeoutMs, &controller.DeleteTopic{ID: t.ID}); err != nil {
		return t, err
	}
	b.logger.Info("topic deletion requested", "topic", t.Name, "topic_id", t.ID.String())
	return t, nil
}

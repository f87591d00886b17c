package server

import (
	"context"
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/weirmq/weir/core/config"
	"github.com/weirmq/weir/core/controller"
	"github.com/weirmq/weir/core/log"
	"github.com/weirmq/weir/core/partition"
	"github.com/weirmq/weir/core/record"
)

// errorCode maps an engine error to its Kafka error code. It is the one
// place where internal errors become codes; handlers call it and send the
// error's text as the error message where the API has one.
//
// Rule: never a retriable code for an error after which the write may
// have been applied (idempotence depends on it).
func errorCode(err error) int16 {
	if err == nil {
		return 0
	}
	var ke *kerr.Error
	switch {
	case errors.As(err, &ke):
		return ke.Code
	case errors.Is(err, log.ErrOffsetOutOfRange):
		return kerr.OffsetOutOfRange.Code
	case errors.Is(err, log.ErrRecordTooLarge):
		return kerr.MessageTooLarge.Code
	case errors.Is(err, record.ErrCorrupt) && errors.Is(err, log.ErrInvalidBatch):
		return kerr.CorruptMessage.Code
	case errors.Is(err, log.ErrInvalidBatch), errors.Is(err, partition.ErrInvalidRecord):
		return kerr.InvalidRecord.Code
	case errors.Is(err, partition.ErrInvalidTimestamp):
		return kerr.InvalidTimestamp.Code
	case errors.Is(err, partition.ErrOutOfOrderSequence):
		return kerr.OutOfOrderSequenceNumber.Code
	case errors.Is(err, partition.ErrProducerFenced):
		return kerr.InvalidProducerEpoch.Code
	case errors.Is(err, partition.ErrUnknownProducerID):
		return kerr.UnknownProducerID.Code
	case errors.Is(err, partition.ErrFencedLeaderEpoch):
		return kerr.FencedLeaderEpoch.Code
	case errors.Is(err, partition.ErrUnknownLeaderEpoch):
		return kerr.UnknownLeaderEpoch.Code
	case errors.Is(err, partition.ErrNotLeaderOrFollower):
		return kerr.NotLeaderForPartition.Code // NOT_LEADER_OR_FOLLOWER
	case errors.Is(err, partition.ErrNotEnoughReplicasAfterAppend):
		return kerr.NotEnoughReplicasAfterAppend.Code
	case errors.Is(err, partition.ErrNotEnoughReplicas):
		return kerr.NotEnoughReplicas.Code
	case errors.Is(err, log.ErrLogFailed), errors.Is(err, log.ErrCorruptLog), errors.Is(err, log.ErrClosed):
		return kerr.KafkaStorageError.Code
	case errors.Is(err, controller.ErrTopicExists):
		return kerr.TopicAlreadyExists.Code
	case errors.Is(err, controller.ErrUnknownTopic):
		return kerr.UnknownTopicOrPartition.Code
	case errors.Is(err, controller.ErrInvalidTopicName):
		return kerr.InvalidTopicException.Code
	case errors.Is(err, controller.ErrInvalidPartitions):
		return kerr.InvalidPartitions.Code
	case errors.Is(err, controller.ErrInvalidReplicationFactor):
		return kerr.InvalidReplicationFactor.Code
	case errors.Is(err, controller.ErrInvalidReplicaAssignment):
		return kerr.InvalidReplicaAssignment.Code
	case errors.Is(err, controller.ErrInvalidConfig):
		return kerr.InvalidConfig.Code
	case errors.Is(err, config.ErrUnknownConfig), errors.Is(err, config.ErrWrongType), errors.Is(err, config.ErrInvalidValue):
		return kerr.InvalidConfig.Code
	case errors.Is(err, controller.ErrElectionNotNeeded):
		return kerr.ElectionNotNeeded.Code
	case errors.Is(err, controller.ErrPreferredLeaderNotAvailable):
		return kerr.PreferredLeaderNotAvailable.Code
	case errors.Is(err, controller.ErrEligibleLeadersNotAvailable):
		return kerr.EligibleLeadersNotAvailable.Code
	case errors.Is(err, controller.ErrNoReassignmentInProgress):
		return kerr.NoReassignmentInProgress.Code
	case errors.Is(err, controller.ErrInconsistentClusterID):
		return kerr.InconsistentClusterID.Code
	case errors.Is(err, context.DeadlineExceeded):
		return kerr.RequestTimedOut.Code
	}
	return kerr.UnknownServerError.Code
}

// errorMessage is the message to send with a code, or nil for success.
func errorMessage(err error) *string {
	if err == nil {
		return nil
	}
	s := err.Error()
	return &s
}

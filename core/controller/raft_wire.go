package controller

import (
	"context"
	"errors"

	"github.com/weirmq/weir/core/config"
)

// The wire form of results and errors, used by the controller RPC (a
// Submit forwarded to the active controller answers with it) and by the
// FSM snapshot (the results of recent requests, for deduplication).

// errorClasses names every error class that crosses the wire, so that the
// caller of a forwarded Submit can test the error with errors.Is as if the
// command had been applied locally. Names are part of the protocol: add,
// never rename.
var errorClasses = []struct {
	name string
	err  error
}{
	{"topic_exists", ErrTopicExists},
	{"unknown_topic", ErrUnknownTopic},
	{"invalid_topic_name", ErrInvalidTopicName},
	{"topic_name_collision", ErrTopicNameCollision},
	{"invalid_partitions", ErrInvalidPartitions},
	{"invalid_replication_factor", ErrInvalidReplicationFactor},
	{"invalid_replica_assignment", ErrInvalidReplicaAssignment},
	{"invalid_config", ErrInvalidConfig},
	{"invalid_broker", ErrInvalidBroker},
	{"inconsistent_cluster_id", ErrInconsistentClusterID},
	{"invalid_command", ErrInvalidCommand},
	{"closed", ErrClosed},
	{"unknown_broker", ErrUnknownBroker},
	{"stale_broker_epoch", ErrStaleBrokerEpoch},
	{"fenced_leader_epoch", ErrFencedLeaderEpoch},
	{"invalid_update_version", ErrInvalidUpdateVersion},
	{"ineligible_replica", ErrIneligibleReplica},
	{"election_not_needed", ErrElectionNotNeeded},
	{"preferred_leader_not_available", ErrPreferredLeaderNotAvailable},
	{"eligible_leaders_not_available", ErrEligibleLeadersNotAvailable},
	{"no_reassignment_in_progress", ErrNoReassignmentInProgress},
	{"config_unknown", config.ErrUnknownConfig},
	{"config_wrong_type", config.ErrWrongType},
	{"config_invalid_value", config.ErrInvalidValue},
	{"deadline_exceeded", context.DeadlineExceeded},
	{"canceled", context.Canceled},
}

// wireError is an error as it crosses the wire: its message and the
// classes it wraps.
type wireError struct {
	Message string   `json:"message"`
	Classes []string `json:"classes,omitempty"`
}

// encodeError returns err's wire form; nil for nil.
func encodeError(err error) *wireError {
	if err == nil {
		return nil
	}
	w := &wireError{Message: err.Error()}
	for _, c := range errorClasses {
		if errors.Is(err, c.err) {
			w.Classes = append(w.Classes, c.name)
		}
	}
	return w
}

// decodeError returns an error with w's message that wraps the classes w
// names (unknown names are ignored); nil for nil.
func decodeError(w *wireError) error {
	if w == nil {
		return nil
	}
	e := &cmdError{msg: w.Message}
	for _, name := range w.Classes {
		for _, c := range errorClasses {
			if c.name == name {
				e.errs = append(e.errs, c.err)
			}
		}
	}
	return e
}

// wireResult is a Result and the error of the command that gave it.
type wireResult struct {
	Offset          int64                 `json:"offset,omitempty"`
	BrokerEpoch     int64                 `json:"broker_epoch,omitempty"`
	FirstProducerID int64                 `json:"first_producer_id,omitempty"`
	LeaderEpoch     int32                 `json:"leader_epoch,omitempty"`
	PartitionEpoch  int32                 `json:"partition_epoch,omitempty"`
	Partitions      []wirePartitionResult `json:"partitions,omitempty"`
	Error           *wireError            `json:"error,omitempty"`
}

type wirePartitionResult struct {
	TopicID   TopicID    `json:"topic_id"`
	Partition int32      `json:"partition"`
	Error     *wireError `json:"error,omitempty"`
}

// encodeResult returns the wire form of a command's outcome.
func encodeResult(res Result, err error) wireResult {
	w := wireResult{
		Offset: res.Offset, BrokerEpoch: res.BrokerEpoch, FirstProducerID: res.FirstProducerID,
		LeaderEpoch: res.LeaderEpoch, PartitionEpoch: res.PartitionEpoch, Error: encodeError(err),
	}
	for _, p := range res.Partitions {
		w.Partitions = append(w.Partitions, wirePartitionResult{TopicID: p.TopicID, Partition: p.Partition, Error: encodeError(p.Err)})
	}
	return w
}

// decode returns the outcome w carries.
func (w wireResult) decode() (Result, error) {
	res := Result{
		Offset: w.Offset, BrokerEpoch: w.BrokerEpoch, FirstProducerID: w.FirstProducerID,
		LeaderEpoch: w.LeaderEpoch, PartitionEpoch: w.PartitionEpoch,
	}
	for _, p := range w.Partitions {
		res.Partitions = append(res.Partitions, PartitionResult{TopicID: p.TopicID, Partition: p.Partition, Err: decodeError(p.Error)})
	}
	return res, decodeError(w.Error)
}

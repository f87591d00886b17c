package controller

import (
	"errors"
	"fmt"
)

// Error classes. Every error Apply returns wraps exactly one of them (an
// invalid name collision wraps two: ErrTopicNameCollision and
// ErrInvalidTopicName), so that a request handler can map it to a Kafka
// error code with errors.Is. The message of the returned error names the
// topic, broker or config at fault and says what is wrong; it is fit to send
// to a client as the Kafka error message.
var (
	// ErrTopicExists: a topic of that name exists (TOPIC_ALREADY_EXISTS).
	ErrTopicExists = errors.New("topic already exists")
	// ErrUnknownTopic: no topic has that ID (UNKNOWN_TOPIC_ID or
	// UNKNOWN_TOPIC_OR_PARTITION).
	ErrUnknownTopic = errors.New("unknown topic")
	// ErrInvalidTopicName: a name Kafka does not allow, or one that
	// collides with an existing topic (INVALID_TOPIC_EXCEPTION).
	ErrInvalidTopicName = errors.New("invalid topic name")
	// ErrTopicNameCollision: the name equals an existing topic's once '.'
	// is replaced by '_' ("a.b" and "a_b"), which Kafka refuses because
	// metric names would clash. It always comes together with
	// ErrInvalidTopicName, the code Kafka answers with.
	ErrTopicNameCollision = errors.New("topic name collides with an existing topic")
	// ErrInvalidPartitions: a partition count below 1 or above
	// MaxPartitions, or a CreatePartitions that does not add partitions
	// (INVALID_PARTITIONS).
	ErrInvalidPartitions = errors.New("invalid partitions")
	// ErrInvalidReplicationFactor: a replication factor below 1 or above
	// the number of live brokers (INVALID_REPLICATION_FACTOR).
	ErrInvalidReplicationFactor = errors.New("invalid replication factor")
	// ErrInvalidReplicaAssignment: an assignment naming an unknown or
	// fenced broker, a broker twice in one partition, an empty replica
	// list, or partitions of different replication factors
	// (INVALID_REPLICA_ASSIGNMENT).
	ErrInvalidReplicaAssignment = errors.New("invalid replica assignment")
	// ErrInvalidConfig: an unknown config name or a bad value
	// (INVALID_CONFIG). The error also wraps the *config.ValueError.
	ErrInvalidConfig = errors.New("invalid config")
	// ErrInvalidBroker: a broker registration with a negative ID, no host
	// or a port outside 1..65535.
	ErrInvalidBroker = errors.New("invalid broker registration")
	// ErrInconsistentClusterID: a command carrying another cluster's ID
	// (INCONSISTENT_CLUSTER_ID).
	ErrInconsistentClusterID = errors.New("inconsistent cluster ID")
	// ErrInvalidCommand: a command the controller itself got wrong: nil,
	// of an unknown type or version, with an all-zero or reused topic ID,
	// a bad producer-id count, or that does not decode. It is a bug in
	// the caller, not a user's mistake (UNKNOWN_SERVER_ERROR).
	ErrInvalidCommand = errors.New("invalid command")
	// ErrUnknownBroker: no broker has that ID (BROKER_ID_NOT_REGISTERED).
	// A broker that gets it from Heartbeat registers again.
	ErrUnknownBroker = errors.New("unknown broker")
	// ErrStaleBrokerEpoch: a command or heartbeat carrying a broker epoch
	// other than the broker's current registration (STALE_BROKER_EPOCH).
	// A broker that gets it from Heartbeat registers again.
	ErrStaleBrokerEpoch = errors.New("stale broker epoch")
	// ErrFencedLeaderEpoch: an AlterPartition from a broker that is not
	// the partition's leader, or with a leader epoch other than the
	// partition's (FENCED_LEADER_EPOCH). The leader has been replaced; it
	// waits for the metadata that says so.
	ErrFencedLeaderEpoch = errors.New("fenced leader epoch")
	// ErrInvalidUpdateVersion: an AlterPartition computed from an older
	// partition epoch (INVALID_UPDATE_VERSION). The leader retries from
	// the partition's current state.
	ErrInvalidUpdateVersion = errors.New("invalid update version")
	// ErrIneligibleReplica: an AlterPartition whose ISR names a broker
	// that is not a replica, is not registered, is fenced or is shutting
	// down (INELIGIBLE_REPLICA).
	ErrIneligibleReplica = errors.New("ineligible replica")
	// ErrElectionNotNeeded: ElectLeaders for a partition that already has
	// its preferred leader, or any leader for an unclean election
	// (ELECTION_NOT_NEEDED). Only in Result.Partitions.
	ErrElectionNotNeeded = errors.New("election not needed")
	// ErrPreferredLeaderNotAvailable: a preferred-leader election whose
	// preferred replica is not live or not in the ISR
	// (PREFERRED_LEADER_NOT_AVAILABLE). Only in Result.Partitions.
	ErrPreferredLeaderNotAvailable = errors.New("preferred leader not available")
	// ErrEligibleLeadersNotAvailable: an unclean election with no live
	// replica (ELIGIBLE_LEADERS_NOT_AVAILABLE). Only in Result.Partitions.
	ErrEligibleLeadersNotAvailable = errors.New("eligible leaders not available")
	// ErrNoReassignmentInProgress: cancelling the reassignment of a
	// partition that is not being reassigned (NO_REASSIGNMENT_IN_PROGRESS).
	// Only in Result.Partitions.
	ErrNoReassignmentInProgress = errors.New("no reassignment in progress")
	// ErrClosed: the controller (Local or Raft) has been closed.
	ErrClosed = errors.New("controller closed")
)

// cmdError is an error of Apply: a full message and the classes it wraps.
type cmdError struct {
	msg  string
	errs []error
}

func (e *cmdError) Error() string   { return e.msg }
func (e *cmdError) Unwrap() []error { return e.errs }

// errorf returns an error with the formatted message that wraps class and
// any extra errors (a *config.ValueError, a second class).
func errorf(class error, extra []error, format string, args ...any) error {
	return &cmdError{msg: fmt.Sprintf(format, args...), errs: append([]error{class}, extra...)}
}

// fail is errorf without extra errors.
func fail(class error, format string, args ...any) error {
	return errorf(class, nil, format, args...)
}

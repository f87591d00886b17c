package partition

import (
	"errors"
	"fmt"

	"github.com/weirmq/weir/core/log"
)

// Errors of replication. The request handlers map them to Kafka codes.
var (
	// ErrNotLeaderOrFollower: the request needs the leader and this
	// replica is not it, or the replica does not know its role yet
	// (NOT_LEADER_OR_FOLLOWER).
	ErrNotLeaderOrFollower = errors.New("not the leader or follower")
	// ErrFencedLeaderEpoch: the request carries an older leader epoch than
	// the replica's (FENCED_LEADER_EPOCH).
	ErrFencedLeaderEpoch = errors.New("fenced leader epoch")
	// ErrUnknownLeaderEpoch: the request carries a newer leader epoch than
	// the replica has heard of (UNKNOWN_LEADER_EPOCH).
	ErrUnknownLeaderEpoch = errors.New("unknown leader epoch")
	// ErrNotEnoughReplicas: an acks=all write refused before the append
	// because the ISR is smaller than min.insync.replicas
	// (NOT_ENOUGH_REPLICAS).
	ErrNotEnoughReplicas = errors.New("not enough in-sync replicas")
	// ErrNotEnoughReplicasAfterAppend: an acks=all write was appended and
	// the HW passed it, but the ISR had fallen below min.insync.replicas
	// (NOT_ENOUGH_REPLICAS_AFTER_APPEND). The write is in the log.
	ErrNotEnoughReplicasAfterAppend = errors.New("not enough in-sync replicas after append")
	// ErrStaleLeadership: MakeLeader or MakeFollower with an older leader
	// or partition epoch than the replica has; the update is ignored.
	ErrStaleLeadership = errStaleLeadership
	// ErrClosed: the partition is closed — it moved away or its topic was
	// deleted. It wraps ErrNotLeaderOrFollower, the code clients get.
	ErrClosed = fmt.Errorf("partition closed: %w", ErrNotLeaderOrFollower)
)

// ErrOffsetOutOfRange is the log's: an offset outside [log start, LEO].
var ErrOffsetOutOfRange = log.ErrOffsetOutOfRange

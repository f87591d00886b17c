package controller

// The commands of a replicated cluster: broker liveness (FenceBroker,
// UnfenceBroker, ControlledShutdown), ISR changes from partition leaders
// (AlterPartition), leader elections (ElectLeaders) and replica moves
// (AlterPartitionReassignments). They came without a new CommandVersion:
// they are new command types (see CommandVersion).

// AlterPartition is a partition leader asking to change the ISR (Kafka's
// AlterPartition). It applies only when BrokerID is the partition's leader
// at BrokerEpoch, LeaderEpoch and PartitionEpoch are the partition's, and
// every member of ISR is a replica that is registered, unfenced and not
// shutting down (the leader itself always may stay). It bumps the
// partition epoch, never the leader epoch; Result.LeaderEpoch and
// Result.PartitionEpoch give the partition's epochs after it. When the
// new ISR holds every replica a reassignment is adding, the reassignment
// completes in the same command.
//
// Errors: ErrFencedLeaderEpoch (not the leader, or another leader epoch),
// ErrStaleBrokerEpoch (BrokerEpoch is not the leader's registration),
// ErrInvalidUpdateVersion (another partition epoch), ErrIneligibleReplica
// (a member that may not be in the ISR), ErrInvalidCommand (an empty ISR,
// a duplicate member, an ISR without the leader), and for a topic or
// partition that does not exist ErrUnknownTopic together with
// ErrInvalidCommand.
type AlterPartition struct {
	TopicID        TopicID `json:"topic_id"`
	Partition      int32   `json:"partition"`
	BrokerID       int32   `json:"broker_id"`       // the leader asking
	BrokerEpoch    int64   `json:"broker_epoch"`    // its registration epoch
	LeaderEpoch    int32   `json:"leader_epoch"`    // the leader epoch it leads in
	PartitionEpoch int32   `json:"partition_epoch"` // the partition epoch it last saw
	ISR            []int32 `json:"isr"`
}

// FenceBroker fences a broker whose session expired: it gets no new
// leaderships or ISR memberships; every partition it leads gets as leader
// the first replica, in replica order, that is in the ISR and live; it
// leaves every ISR of which it is not the last member. A partition whose
// ISR has no other live member becomes leaderless (Leader -1) and keeps
// its ISR, unless the topic's unclean.leader.election.enable (or the
// dynamic broker config of that name) is true: then the first live
// replica leads and the ISR becomes just that replica. Each leader change
// bumps the leader epoch, each change the partition epoch.
//
// It fails with ErrUnknownBroker for an unregistered broker and
// ErrStaleBrokerEpoch when Epoch is not the broker's registration (it
// registered again since), changing nothing. Fencing a fenced broker is
// allowed and changes nothing but the Offset.
type FenceBroker struct {
	ID    int32 `json:"id"`
	Epoch int64 `json:"epoch"`
}

// UnfenceBroker unfences a fenced broker that heartbeats again with the
// registration it was fenced in; leaderless partitions with it in the ISR
// get it as leader (leader epoch bumped). Errors as FenceBroker's.
// Unfencing a live broker changes nothing but the Offset; a broker in
// controlled shutdown stays out of leaderships until it registers again.
type UnfenceBroker struct {
	ID    int32 `json:"id"`
	Epoch int64 `json:"epoch"`
}

// ControlledShutdown prepares a broker's shutdown: every partition it
// leads gets another leader from its ISR (the first live one in replica
// order) or, with none, becomes leaderless; it leaves every ISR where
// others remain; and it is marked InControlledShutdown, which keeps it
// from new leaderships and ISR memberships until it registers again.
// Errors as FenceBroker's.
type ControlledShutdown struct {
	ID    int32 `json:"id"`
	Epoch int64 `json:"epoch"`
}

// TopicPartition names one partition.
type TopicPartition struct {
	TopicID   TopicID `json:"topic_id"`
	Partition int32   `json:"partition"`
}

// ElectLeaders runs leader elections (Kafka's ElectLeaders).
//
// Preferred (Unclean false): a partition whose first replica is live, in
// the ISR and not its leader gets it as leader. Otherwise its
// Result.Partitions entry says ErrElectionNotNeeded (it leads already) or
// ErrPreferredLeaderNotAvailable.
//
// Unclean: a leaderless partition gets the first live ISR member in
// replica order, or with none, the first live replica, whose ISR then
// becomes just itself: records the ISR had may be lost, which is what
// the operator asked for. A partition with a leader says
// ErrElectionNotNeeded, one without a live replica
// ErrEligibleLeadersNotAvailable.
//
// Partitions nil or empty means every partition; then Result.Partitions
// lists only the partitions that got a new leader. With a list, it has an
// entry for each listed partition, in order (ErrUnknownTopic for one that
// does not exist). The command itself fails only when it is malformed.
type ElectLeaders struct {
	Unclean    bool             `json:"unclean,omitempty"`    // false: preferred
	Partitions []TopicPartition `json:"partitions,omitempty"` // nil: all
}

// AlterPartitionReassignments starts, replaces or cancels partition
// reassignments (KIP-455).
//
// A reassignment to target replicas T of a partition with replicas R sets
// Replicas to T followed by R−T (RemovingReplicas) and AddingReplicas to
// T−R; ISR and leader stay. It completes — in the same command when it
// can, or in the AlterPartition that makes it possible — once every adding
// replica is in the ISR and some target replica is: Replicas becomes T,
// the ISR keeps its members in T, and a leader being removed hands over to
// the first live target replica in the ISR (leader epoch bumped). A new
// target for a partition being moved replaces the old one as if that one
// had been cancelled first. A target equal to the replicas (after a
// cancel) just clears the reassignment; the same brokers in another order
// reorder the replicas at once.
//
// Replicas nil cancels: Replicas loses AddingReplicas, the ISR loses them
// too, and a leader among them hands over as above. Cancelling fails for
// the partition with ErrInvalidReplicaAssignment when no original replica
// is left in the ISR.
//
// Each reassignment has an entry in Result.Partitions, in order:
// ErrUnknownTopic, ErrInvalidReplicaAssignment (an empty target, a
// duplicate or unregistered broker), ErrNoReassignmentInProgress (cancel
// without one), or nil. A partition listed twice: the last entry wins
// (the earlier ones are applied first).
type AlterPartitionReassignments struct {
	Reassignments []Reassignment `json:"reassignments"`
}

// Reassignment is the target replicas of one partition; nil cancels.
type Reassignment struct {
	TopicID   TopicID `json:"topic_id"`
	Partition int32   `json:"partition"`
	Replicas  []int32 `json:"replicas"` // nil cancels
}

// PartitionResult is the outcome of ElectLeaders or
// AlterPartitionReassignments for one partition: Err is nil or wraps one
// of the error classes of this package.
type PartitionResult struct {
	TopicID   TopicID
	Partition int32
	Err       error
}

func (AlterPartition) commandType() string              { return "AlterPartition" }
func (FenceBroker) commandType() string                 { return "FenceBroker" }
func (UnfenceBroker) commandType() string               { return "UnfenceBroker" }
func (ControlledShutdown) commandType() string          { return "ControlledShutdown" }
func (ElectLeaders) commandType() string                { return "ElectLeaders" }
func (AlterPartitionReassignments) commandType() string { return "AlterPartitionReassignments" }

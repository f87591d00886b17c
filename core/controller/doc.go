// Package controller holds the cluster metadata — the cluster ID, the
// brokers with their epochs and liveness, the topics with their IDs,
// partitions, replicas, ISR, leaders, epochs and reassignments, topic,
// broker and group config overrides, and the producer-id counter — as a
// deterministic state machine, and the controllers that keep it: Local
// for a single node (a file) and Raft for a cluster (hashicorp/raft).
//
// # The state machine
//
// An Image is the metadata after some number of commands (its Offset). It
// never changes; (*Image).Apply(cmd) returns a new Image sharing what did
// not change, so images can be handed to any goroutine without locks.
// Apply is pure: no I/O, no clock, no randomness. Whatever a command needs
// — topic IDs, the cluster ID, replica assignments — is chosen by whoever
// builds it, so the same commands from the same image always give the
// same image. Commands are InitCluster, RegisterBroker, CreateTopic,
// DeleteTopic, CreatePartitions, AlterTopicConfigs, AlterBrokerConfigs,
// AlterGroupConfigs and AllocateProducerIDs, and for a cluster
// FenceBroker, UnfenceBroker, ControlledShutdown, AlterPartition,
// ElectLeaders and AlterPartitionReassignments (command_cluster.go);
// MarshalCommand and UnmarshalCommand give their durable JSON form, which
// carries CommandVersion.
//
// Leadership follows Kafka's rules (apply_cluster.go): a leader is a
// registered broker that is neither fenced nor in controlled shutdown; a
// clean election takes the first such replica, in replica order, that is
// in the ISR; a broker that leaves (fenced, shutting down, restarted)
// leaves every ISR of which it is not the last member, so a partition
// whose replicas are all gone is leaderless (Leader -1) with its last
// ISR member, and comes back with it. Unclean elections (any live
// replica; the ISR becomes that replica) happen only where
// unclean.leader.election.enable allows or ElectLeaders asks. Every
// leader change bumps LeaderEpoch by one, every partition change
// PartitionEpoch by one.
//
// A command that does not apply leaves the image as it was and returns an
// error wrapping one class (ErrTopicExists, ErrUnknownTopic,
// ErrInvalidTopicName, ErrInvalidPartitions, ErrInvalidReplicationFactor,
// ErrInvalidReplicaAssignment, ErrInvalidConfig, ErrFencedLeaderEpoch,
// ErrInvalidUpdateVersion, ErrIneligibleReplica, ErrStaleBrokerEpoch, ...),
// whose message names the topic, partition, broker or config and says
// what is wrong. ElectLeaders and AlterPartitionReassignments answer per
// partition in Result.Partitions. The request handlers map the classes to
// Kafka error codes in one place.
//
// # Controllers
//
// Local is the controller of a single-node broker: Submit checks a command
// with Apply, appends it to <dir>/metadata.log (length-prefixed,
// CRC32C-checked records, fsynced), and publishes the new image. OpenLocal
// replays the file; a torn or corrupt record ends the replay and is cut off
// (logged), so a damaged file never stops the broker from starting. The
// file is rewritten as one snapshot record now and then.
//
// Raft (raft.go) is the controller of a cluster: every node opens one
// with OpenRaft. The voters (config.Cluster.Voters: 1, 3 or 5) bootstrap
// the quorum once and elect a leader, the active controller; every other
// node joins as a non-voter. Submit on any node goes to the active
// controller — forwarded over the controller RPC when another node leads
// — which appends MarshalCommand's bytes to the Raft log; every node's
// FSM (raft_fsm.go) applies each committed command with the same
// (*Image).Apply, so a command that fails Apply is a no-op everywhere.
// Snapshots hold the Image's MarshalJSON in the metadata log's framing.
// The controller listener carries both Raft and the RPC (raft_net.go);
// the active controller's duties — broker sessions, fencing, unclean and
// preferred-leader elections — are in raft_active.go.
//
// # The caller's duties
//
//  1. Open the controller before serving: OpenLocal with this node's ID
//     and address (it creates the cluster on the first start and
//     registers the node), or OpenRaft with the node ID, the voters, the
//     controller listener and the broker timings
//     (RaftOptions.SetBrokerConfig).
//  2. Register the broker with its real Kafka address once its logs are
//     open and it can serve: Submit(RegisterBroker) on every start. The
//     Result's BrokerEpoch is this incarnation's epoch; a broker that
//     restarts gets a new one and keeps its replicas, and the partitions
//     its previous incarnation led move to another ISR member (or, where
//     it was the last, stay with it at a new leader epoch).
//  3. With Raft, call Heartbeat(ctx, id, epoch) every
//     broker.heartbeat.interval.ms. ErrUnknownBroker or
//     ErrStaleBrokerEpoch means: register again. A broker that misses
//     broker.session.timeout.ms is fenced; heartbeating again unfences it.
//  4. Build each command from Image(): validate names (ValidateTopicName)
//     and counts, pick replicas with AssignReplicas over Image().Brokers(),
//     and take a fresh ID from NewTopicID for CreateTopic. Resolve the
//     configs a topic runs with through (*config.Config).ResolveTopic over
//     Topic.Configs; Apply checks each override on its own, and the
//     handler checks the rules that relate two configs
//     (min.compaction.lag.ms ≤ max.compaction.lag.ms) against the node's
//     configuration.
//  5. Submit it, and map the error class to a Kafka code. Another command
//     may have come first: Apply checks against the image it is applied
//     to, not the one the command was built from (CreatePartitions.Count
//     catches a racing partition increase). When Submit returns, Image()
//     has the command, on any node.
//  6. As a partition leader, change the ISR only through
//     Submit(AlterPartition) with this broker's epoch and the leader and
//     partition epochs it leads at; ErrFencedLeaderEpoch or
//     ErrInvalidUpdateVersion means the metadata moved on — wait for it.
//  7. React to changes with Watch (create and delete logs, become leader
//     or follower when Leader or LeaderEpoch change), not by polling Image.
//  8. Before stopping, Submit(ControlledShutdown) with this broker's
//     epoch, so that leadership moves away while it can still answer;
//     then stop the broker, and Close the controller after the components
//     that watch it stop.
//
// Changing what Apply accepts changes the replicated protocol: do it with a
// new CommandVersion and keep the old rules for old commands, or a log
// written by one build replays differently on another. A new command type
// is the exception (see CommandVersion): no older log holds it.
package controller

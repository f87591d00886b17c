// Package controller holds the cluster metadata — the cluster ID, the
// brokers, the topics with their IDs, partitions, replicas, ISR, leaders
// and epochs, topic, broker and group config overrides, and the
// producer-id counter — as a deterministic state machine, and the single-node
// controller that keeps it on disk.
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
// AlterGroupConfigs and AllocateProducerIDs; MarshalCommand and UnmarshalCommand give their
// durable JSON form, which carries CommandVersion.
//
// A command that does not apply leaves the image as it was and returns an
// error wrapping one class (ErrTopicExists, ErrUnknownTopic,
// ErrInvalidTopicName, ErrInvalidPartitions, ErrInvalidReplicationFactor,
// ErrInvalidReplicaAssignment, ErrInvalidConfig, ...), whose message names
// the topic, partition, broker or config and says what is wrong. The
// request handlers map the classes to Kafka error codes in one place.
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
// In the cluster issue, hashicorp/raft replaces the file: Submit becomes
// raft.Apply of MarshalCommand's bytes, and the Raft FSM's Apply calls
// UnmarshalCommand and the same (*Image).Apply on every node, with
// MarshalJSON and DecodeImage as the FSM's snapshot and restore. A command
// that fails Apply there is a committed no-op on every node, exactly as a
// replayed command that fails Apply is skipped by Local.
//
// # The caller's duties
//
//  1. OpenLocal the controller before serving, with this node's ID and
//     advertised address; it creates the cluster on the first start and
//     registers the node.
//  2. Build each command from Image(): validate names (ValidateTopicName)
//     and counts, pick replicas with AssignReplicas over Image().Brokers(),
//     and take a fresh ID from NewTopicID for CreateTopic. Resolve the
//     configs a topic runs with through (*config.Config).ResolveTopic over
//     Topic.Configs; Apply checks each override on its own, and the
//     handler checks the rules that relate two configs
//     (min.compaction.lag.ms ≤ max.compaction.lag.ms) against the node's
//     configuration.
//  3. Submit it, and map the error class to a Kafka code. Another command
//     may have come first: Apply checks against the image it is applied
//     to, not the one the command was built from (CreatePartitions.Count
//     catches a racing partition increase).
//  4. React to changes with Watch (create and delete logs, move
//     leadership), not by polling Image.
//  5. Close the controller after the components that watch it stop.
//
// Changing what Apply accepts changes the replicated protocol: do it with a
// new CommandVersion and keep the old rules for old commands, or a log
// written by one build replays differently on another. A new command type
// is the exception (see CommandVersion): no older log holds it.
package controller

// Package group is Weir's group coordinator: consumer groups of the
// classic protocol (JoinGroup, SyncGroup, Heartbeat, LeaveGroup) and their
// committed offsets, stored as Kafka stores them, as records in the
// compacted __consumer_offsets topic.
//
// A group belongs to one partition of __consumer_offsets (PartitionFor:
// Java's String.hashCode of the group id, modulo the partition count), and
// the leader of that partition coordinates it. The Coordinator keeps the
// groups of the partitions this node leads. Its state machine follows
// Kafka's GroupCoordinator: the states Empty, PreparingRebalance,
// CompletingRebalance, Stable and Dead; member ids handed out on the first
// join (KIP-394); static members (KIP-345); the initial rebalance delay;
// session, rebalance and sync timeouts; and Kafka's error codes. Time comes
// from an injected Clock, so tests move time instead of sleeping.
//
// Offset commits are OffsetCommitKey/OffsetCommitValue records and group
// metadata GroupMetadataKey/GroupMetadataValue records (kmsg's types, key
// versions 1 and 2); a null value deletes. A write returns once the
// partition has committed it (the high watermark is past it).
//
// The caller's duties, in order:
//
//  1. Open a Coordinator with the configuration, the partition count of
//     __consumer_offsets and, for tests, a Clock.
//  2. When this node becomes leader of a partition of __consumer_offsets,
//     call Load with a Storage over it, in a goroutine the caller owns:
//     Load reads the partition and rebuilds its groups; until it returns,
//     their requests get COORDINATOR_LOAD_IN_PROGRESS.
//  3. Route the group APIs to the Coordinator's methods (JoinGroup,
//     SyncGroup, Heartbeat, LeaveGroup, CommitOffsets, FetchOffsets,
//     DeleteOffsets, DescribeGroup, ListGroups, DeleteGroup). JoinGroup and
//     SyncGroup block until the rebalance lets them answer; give them the
//     request's context. Groups of partitions not loaded here get
//     NOT_COORDINATOR.
//  4. When the node stops leading a partition, or the topic is deleted,
//     call Unload.
//  5. Close the Coordinator before closing the partitions under it.
//
// The Coordinator is safe for concurrent use; see its comment for the
// locks. Offsets of empty groups expire after offsets.retention.minutes
// (Config.OffsetsRetention), with tombstones written, as Kafka expires
// them.
package group

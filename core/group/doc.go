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
// Consumer groups of the next-generation protocol (KIP-848:
// ConsumerGroupHeartbeat, ConsumerGroupDescribe) live in the same
// coordinator (consumer.go). The coordinator computes each group's target
// assignment with an sdk.Assignor found by name in Options.Assignors (the
// members' ServerAssignor, the most asked-for one winning; else
// Config.ConsumerAssignor, "uniform"), from the members' subscriptions
// (topic names, and regular expressions matched against Options.Topics
// as whole names), and moves each member to it epoch by epoch: the group
// epoch is bumped when a member joins or leaves or its subscription,
// server assignor or rack changes, or a subscribed topic is created,
// deleted or grows; the target is computed for the new group epoch on the
// next heartbeat; a member gets its new epoch once it holds nothing the
// target takes away, and a partition goes to its new owner only after its
// old owner has reported, in the partitions its heartbeat lists, that it
// no longer owns it (revoke before reassign). Members are removed when
// their session (Config.ConsumerSessionTimeout) ends, or when they do not
// revoke within their rebalance timeout. Offset commits to a consumer
// group carry the member epoch (OffsetCommit v9+): an older epoch is
// accepted only for partitions the member has held since (KIP-1251),
// others get STALE_MEMBER_EPOCH.
//
// Server-side assignment of classic groups (Weir's own, classic_assign.go):
// a classic group of protocol type "consumer" for which
// Options.ClassicAssignor names an assignor (the broker passes the group's
// weir.assignor config, else weir.group.assignor) is assigned by the
// coordinator, so that a custom sdk.Assignor serves clients that only
// speak the classic protocol. The rules:
//
//   - When the join phase ends, the coordinator decodes each member's
//     kmsg.ConsumerMemberMetadata for the selected protocol — topics,
//     user data, owned partitions (v1+), generation (v2+), rack (v3+) —
//     and runs the assignor (found in Options.Assignors) over them with
//     the subscribed topics' partition counts (Options.Topics), under the
//     shard's lock.
//   - The leader is still elected, told everyone's metadata, and still
//     syncs; its SyncGroup completes the generation as in Kafka, but what
//     it sent is ignored: each member gets, and the log stores, its part
//     of the coordinator's assignment, a ConsumerMemberAssignment at the
//     version of the member's metadata (at most 3), without user data.
//   - Eager protocols get the assignor's answer as it is. An eager member
//     revoked everything before joining, so what it was given last
//     generation stands for what it owns (sdk.GroupMember.Owned, with the
//     previous generation), and sticky assignors stick.
//   - Cooperative protocols (the selected protocol is
//     "cooperative-sticky", or the assignor is): a partition the assignor
//     gives to one member while another still lists it as owned goes to
//     nobody this generation. Its owner, not given it, revokes it and
//     rejoins, and the next rebalance hands it out (KIP-429): a change
//     settles in two rebalances, and no partition is ever consumed by two
//     members at once.
//   - If the assignor is not registered, a member's metadata does not
//     decode, the assignor fails or its answer fails
//     sdk.Assignment.Check, the generation gets the leader's assignment,
//     as without the config, and the failure is logged once (again only
//     after an assignment has succeeded).
//   - Other protocol types (Kafka Connect's "connect") are always
//     assigned by their leader. A Kafka Streams group (protocol type
//     "consumer", protocol "stream") must not opt in: its assignment's
//     user data carries its tasks.
//   - A change of the config takes effect at the group's next rebalance;
//     it does not start one.
//
// A group is classic or consumer: a ConsumerGroupHeartbeat on a classic
// group with members gets GROUP_ID_NOT_FOUND, a JoinGroup on a consumer
// group with members INCONSISTENT_GROUP_PROTOCOL (Kafka 4 with
// group.consumer.migration.policy=disabled; Weir does not convert groups
// with members); an empty group of one type becomes the other, keeping
// its offsets.
//
// Offset commits are OffsetCommitKey/OffsetCommitValue records and group
// metadata GroupMetadataKey/GroupMetadataValue records (kmsg's types, key
// versions 1 and 2); consumer groups are Kafka's KIP-848 records (key
// versions 3 and 5–8, consumer_records.go), so a restart keeps members,
// epochs and assignments. A null value deletes. A write returns once the
// partition has committed it (the high watermark is past it).
//
// The caller's duties, in order:
//
//  1. Open a Coordinator with the configuration, the partition count of
//     __consumer_offsets, the topics and assignors (KIP-848 and
//     server-side assignment), the classic groups' assignor
//     (ClassicAssignor) and, for tests, a Clock.
//  2. When this node becomes leader of a partition of __consumer_offsets,
//     call Load with a Storage over it, in a goroutine the caller owns:
//     Load reads the partition and rebuilds its groups; until it returns,
//     their requests get COORDINATOR_LOAD_IN_PROGRESS.
//  3. Route the group APIs to the Coordinator's methods (JoinGroup,
//     SyncGroup, Heartbeat, LeaveGroup, CommitOffsets, FetchOffsets,
//     DeleteOffsets, DescribeGroup, ListGroups, DeleteGroup,
//     ConsumerGroupHeartbeat, ConsumerGroupDescribe, ValidateOffsetFetch).
//     JoinGroup and SyncGroup block until the rebalance lets them answer;
//     give them the request's context. Groups of partitions not loaded here
//     get NOT_COORDINATOR.
//  4. When the node stops leading a partition, or the topic is deleted,
//     call Unload.
//  5. Close the Coordinator before closing the partitions under it.
//
// The Coordinator is safe for concurrent use; see its comment for the
// locks. Offsets of empty groups expire after offsets.retention.minutes
// (Config.OffsetsRetention), with tombstones written, as Kafka expires
// them.
package group

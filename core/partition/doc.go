// Package partition is one replica of one partition: its log, and the
// replication state around it — log end offset (LEO), high watermark (HW),
// the ISR, leader and partition epochs — plus the idempotent-producer
// state and the waiters that acks=all produces and long-poll fetches park
// in.
//
// Replication is a pure state machine (replica_state.go): events in — a
// leadership from the metadata, a follower's fetch, a local append, a
// timer tick, the controller's answer to an ISR change — effects out: the
// HW moved, the role changed, an ISR change to send. It has no I/O, clock
// or locks, and is tested by transcripts (testdata/replication). Partition
// is its driver: it holds the machine under a lock, does the log work and
// wakes waiters. The rules are Kafka's: HW = min LEO over the ISR (the
// maximal ISR while a change is in flight, KIP-497); a follower behind the
// leader's LEO for replica.lag.time.max.ms is proposed for removal, one
// that reaches the HW for addition; ISR changes are committed by the
// controller; followers find where they diverge from a new leader by
// leader epoch (KIP-101, KIP-279) and fetches carry the last fetched epoch
// (KIP-320).
//
// Caller duties, in order:
//  1. Open the partition over an opened log, with this broker's id and the
//     checkpointed HW. It does not know its role yet: requests get
//     ErrNotLeaderOrFollower.
//  2. Apply every metadata change with MakeLeader or MakeFollower (stale
//     ones are refused with ErrStaleLeadership). After a MakeFollower that
//     starts a term, the replica fetcher truncates (TruncationOffset,
//     TruncateTo) before fetching, then appends with AppendAsFollower and
//     takes the leader's HW with SetLeaderHighWatermark.
//  3. As leader: AppendAsLeader for produce requests (then WaitForAcks for
//     acks=all), Read for consumers, FollowerFetch then ReadToLogEnd for
//     followers, EndOffsetForEpoch for OffsetForLeaderEpoch; Tick
//     periodically; send each PendingISRChange to the controller (the
//     OnISRChange hook says when) and report ISRChangeCommitted or
//     ISRChangeRejected.
//  4. Watch (or WatchAppends) with a Waiter to wait for the HW (or the
//     log) to move.
//  5. Close, which does not close the log — the log manager owns it.
package partition

// Package partition is one replica of one partition: its log, and the
// replication state around it — log end offset (LEO), high watermark (HW),
// log start offset, leader epoch — plus the idempotent-producer state and
// the waiters that acks=all produces and long-poll fetches park in.
//
// It is shaped for replication from the start: the HW is the minimum LEO
// over the in-sync replicas, which on a single node is the leader alone, so
// the HW follows each local append. The cluster issue adds followers'
// positions and ISR changes through the same type.
//
// Caller duties, in order: Open the partition over an opened log; call
// AppendAsLeader for produce requests and Read for fetches; use Waiter to
// wait for the HW to move; Close (which does not close the log — the log
// manager owns it).
package partition

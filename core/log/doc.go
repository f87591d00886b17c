// Package log is Weir's storage engine: one partition's log of record
// batches in segment files with sparse offset and time indexes, and the
// Manager that owns a data directory of such logs.
//
// A Log (log.go) takes appends as leader (assigning offsets) or follower
// (keeping them), serves reads as file slices for sendfile, answers offset
// lookups by timestamp, and is recovered on Open: torn tails truncated,
// bad indexes rebuilt, interrupted operations finished or undone.
// maintenance.go holds the other changes: retention, DeleteRecords,
// truncation, flushing, closing.
//
// The log cleaner (cleaner*.go) compacts logs whose cleanup.policy
// includes compact, as Kafka's does: a pass maps every key of the dirty
// section to its latest offset, rewrites the segments below the active
// one keeping only each key's latest record (tombstones for
// delete.retention.ms after the pass that first sees them, KIP-534), lets
// the topic's compaction filter (weir.compaction.filter, an
// sdk.CompactionFilter) drop or rewrite the survivors, and swaps the new
// segments in crash-safely (cleaner_swap.go). Offsets never change: a
// compacted log has gaps, which reads skip. The Manager's cleaner threads
// (log.cleaner.threads) pick the dirtiest log; its retention worker
// enforces retention.ms and retention.bytes on delete-policy logs.
//
// The caller's duties, in order:
//
//  1. OpenManager on the data directory, with the cleaner's options and
//     the compaction-filter registry.
//  2. OpenLog each hosted partition with its topic's Config
//     (ConfigFromTopic); SetConfig when the topic's config changes.
//  3. Append, Read, and so on; SetCleanLimit to the high watermark when
//     replicating, so the cleaner compacts only committed records.
//  4. Close the Manager: it stops the cleaner, flushes and closes every log
//     and leaves the clean-shutdown marker.
//
// The disk is reached only through the FS seam, so tests inject faults and
// crashes; time only through the Clock seam.
package log

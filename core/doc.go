// Package core is the root of Weir's engine. It holds no code of its own;
// its sub-packages do the work:
//
//   - core/record: Kafka record batches (v2): parse, validate, iterate, build.
//   - core/log: a partition's segment log: append, read slices, indexes,
//     roll, retention, the log cleaner (compaction), truncation, recovery;
//     the Manager owns a data dir.
//   - core/config: the TOML configuration and the Kafka topic, broker and
//     group config tables.
//   - core/partition: one replica: the pure replication state machine (ISR,
//     HW, LEO, leader epochs) and its driver, idempotent producers, waiters.
//   - core/controller: cluster metadata as a deterministic state machine,
//     replicated by hashicorp/raft.
//   - core/group: the group coordinator (classic and KIP-848 protocols).
//   - core/server: the Kafka listener, one handler per API, replica
//     fetchers and the broker's membership in the cluster.
//
// The dependency rule (ARCHITECTURE §1): nothing under core imports the
// plugins, partitioners, assignors or codecs packages; implementations
// arrive through an sdk.Registry at start-up. deps_test.go holds the rule.
package core

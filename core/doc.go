// Package core is the root of Weir's engine. It holds no code of its own;
// its sub-packages do the work:
//
//   - core/record: Kafka record batches (v2): parse, validate, iterate, build.
//   - core/log: a partition's segment log: append, read slices, indexes,
//     roll, retention, truncation, recovery; the Manager owns a data dir.
//   - core/config: the TOML configuration and the Kafka topic, broker and
//     group config tables.
//   - core/partition: one replica's state (HW, leader epoch, idempotent
//     producers, waiters).
//   - core/controller: cluster metadata as a deterministic state machine.
//   - core/group: the group coordinator (classic and KIP-848 protocols).
//   - core/server: the Kafka listener and one handler per API.
//
// The dependency rule (ARCHITECTURE §1): nothing under core imports the
// plugins, partitioners, assignors or codecs packages; implementations
// arrive through an sdk.Registry at start-up. deps_test.go holds the rule.
package core

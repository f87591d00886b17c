// Package nats is the NATS bridge: it copies messages from core NATS
// subjects and JetStream streams into Kafka topics, as configured by the
// [[bridge.nats]] routes of weir.toml (config.NATSRoute).
//
// The bridge is a Kafka client like any other: each route produces through
// its own franz-go client, to the node's own Kafka listener inside `weir
// serve` or to any Kafka-compatible cluster when run standalone (`weir
// bridge nats`). Both paths are this code.
//
// A record's value is the message payload; its headers are the message's
// NATS headers plus nats.subject (and nats.reply, nats.stream, nats.seq);
// its key comes from the route's key setting; its partition from the
// topic's partitioner (weir.partitioner, murmur2 by default), called once
// per batch per topic.
//
// Delivery:
//
//   - Core NATS routes are at most once. Messages are batched and written
//     with acks=all, but a message the client had to drop as a slow
//     consumer, or that is in flight when the process dies, is lost; both
//     are counted (dropped).
//   - JetStream routes are at least once. A message is acked to NATS only
//     after its record is committed (acks=all, idempotent producer), so a
//     crash leads to redelivery, never loss. A window of recently written
//     message identities (Nats-Msg-Id, else the stream sequence) — filled
//     at start from the tail of the route's topics — keeps redeliveries
//     from being written twice. See README.md for exactly what is
//     deduplicated.
//
// Poison messages (a key that cannot be extracted, a topic that cannot be
// rendered or created, a record larger than the topic accepts, a record the
// cluster refuses) go to the route's dead-letter topic with the reason in
// the weir.dlq.reason header; the route carries on.
//
// Use: Open with Options (routes, seed brokers, a PartitionerLookup such
// as an *sdk.Registry with the built-in partitioners, optionally a
// Prometheus registerer); serve StatusHandler at GET /v1/bridge/status;
// Close to stop, which waits for records in flight.
package nats

// Package partitioners will hold the built-in partitioners — murmur2 as the
// Java client computes it, round-robin and uniform-sticky — each an
// sdk.Partitioner registered by name at start-up. Weir's own producers
// (CLI, HTTP, NATS bridge) use a topic's partitioner; standard Kafka clients
// keep choosing partitions themselves. Empty until the plugins issue lands.
package partitioners

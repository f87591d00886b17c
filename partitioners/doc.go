// Package partitioners holds the built-in partitioners, each an
// sdk.Partitioner: "murmur2" (keyed records placed exactly as the Java
// client places them; the default), "roundrobin" and "uniform-sticky"
// (KIP-794). Register adds them to an sdk.Registry at start-up.
//
// Weir's own producers (`weir produce`, the HTTP produce endpoint, the NATS
// bridge, the Go helper for franz-go) use a topic's partitioner, named by
// its weir.partitioner config; standard Kafka clients keep choosing
// partitions themselves unless the topic enforces its partitioner.
package partitioners

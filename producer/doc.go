// Package producer is how Weir's own producers place records: with the
// topic's partitioner (the topic config weir.partitioner), so that records
// written through Weir land where the topic's partitioner — a built-in or
// a [[plugins]] entry — says, and pass weir.partitioner.enforce.
//
// It holds:
//
//   - Producer, the HTTP produce endpoint of a node
//     (POST /v1/topics/{topic}/records: JSON records in, partitions and
//     offsets out) and the topic-partitioner endpoint
//     (GET /v1/topics/{topic}/partitioner: the partitioner's name and, for
//     a WASM plugin, its module). A Producer writes through a franz-go
//     client to the node's own Kafka listener with acks=all, choosing each
//     record's partition itself (kgo.ManualPartitioner), one partitioner
//     call per request.
//   - The franz-go helper: Partitioner turns any sdk.Partitioner into a
//     kgo.Partitioner, Place assigns partitions to a slice of records in
//     one call (for kgo.ManualPartitioner), and FetchPartitioner fetches a
//     topic's partitioner from a broker's HTTP API — running a WASM
//     plugin's module locally with plugins/wasm — so that a franz-go
//     application places records exactly as the broker's partitioner
//     would.
//   - DescribeTopic, which finds a topic's partition count and
//     weir.partitioner through the Kafka API (`weir produce` uses it).
//
// The JSON of the HTTP endpoints is described in http.go.
package producer

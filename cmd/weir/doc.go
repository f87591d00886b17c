// Command weir is the Weir broker and its command-line tools.
//
//	weir serve [--config weir.toml] [--node-id N] [--data-dir DIR]
//	           [--kafka-addr H:P] [--controller-addr H:P] [--http-addr H:P]
//	           [--voters 1@H:P,2@H:P,3@H:P]
//
// With no arguments `weir serve` runs a single node with its data in
// ./weir-data and the listeners of ARCHITECTURE §5. The file is validated
// before anything starts; a bad key or value stops start-up with a message
// naming the key and its line. SIGINT or SIGTERM shut the node down
// cleanly: logs are flushed, checkpoints written and the clean-shutdown
// marker left so the next start skips recovery.
//
// The client commands speak Kafka to any broker (--brokers, default
// 127.0.0.1:9092 or $WEIR_BROKERS; --timeout):
//
//	weir topic create NAME [--partitions N] [--replication-factor N] [--config k=v]... [--if-not-exists]
//	weir topic list [--all]
//	weir topic describe NAME...
//	weir topic alter NAME [--partitions N] [--set k=v]... [--delete k]...
//	weir topic delete NAME... [--if-exists]
//	weir produce TOPIC [--key-separator SEP] [--header k=v]... [--acks all|1|0] [--partition N]
//	                   [--compression none|gzip|snappy|lz4|zstd] [--null-value MARKER]
//	weir consume TOPIC [--from earliest|latest|N|@MS] [--partition N] [--group G] [--count N]
//	                   [--format value|kv|json|TEMPLATE] [--idle DURATION]
//	weir group list [--state STATE]... [--format text|json]
//	weir group describe GROUP... [--format text|json]
//	weir group delete GROUP... [--if-exists]
//	weir group reset-offsets GROUP --topic TOPIC [--partition N]
//	                   (--to-earliest | --to-latest | --to-offset N | --to-timestamp MS | --shift-by N)
//	                   [--execute]
//	weir cluster status
//	weir cluster reassign TOPIC:PARTITION=BROKER,BROKER... | --cancel TOPIC:PARTITION...
//	weir cluster reassignments
//	weir cluster elect-leaders [--unclean] [TOPIC:PARTITION...]
//
// Commands that talk to a node's HTTP listener (--http, default
// 127.0.0.1:9094), and local plugin tools:
//
//	weir topic describe NAME --http H:P   (adds the log cleaner's dirty ratio)
//	weir plugin list | reload NAME
//	weir plugin test --wasm FILE | --command FILE --kind KIND [sample input flags]
//	weir plugin build DIR -o FILE.wasm
//	weir bridge status [--json]
//	weir bridge nats --config FILE --brokers H:P [--http-addr H:P]
//
// Every node runs the Raft controller (core/controller.Raft): the voters
// of [cluster] voters bootstrap the quorum, other nodes join as
// non-voters; on SIGTERM a node first moves its leaderships away
// (controlled shutdown). [[plugins]] are loaded at start (plugins.Load)
// and [[bridge.nats]] routes run inside the node.
//
// cmd is the only package that wires the engine (core) to the built-in
// extensions (codecs, assignors, partitioners, the plugin hosts, the NATS
// bridge).
package main

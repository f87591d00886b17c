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
// Today `weir serve` opens and recovers the data directory and runs log
// maintenance (retention, flush, checkpoints); the Kafka listener arrives
// with the broker issue. cmd is the only package that wires the engine
// (core) to the built-in extensions (codecs, ...).
package main

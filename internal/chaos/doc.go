// Package chaos is Weir's cluster fault-injection harness: it runs real
// `weir serve` processes on loopback, hurts them, and checks that no
// acknowledged write was lost or duplicated, that no client was ever
// served a record above the high watermark, and that the replicas end
// byte-identical.
//
// The pieces, each usable on its own:
//
//   - Cluster and Node: `weir serve` processes with generated weir.toml
//     files (shared voters, fixed ports from PickPorts, outside the
//     kernel's ephemeral range so that a restarted broker gets its port
//     back), started, killed (SIGKILL), paused (SIGSTOP/SIGCONT), stopped
//     (SIGTERM) and restarted. Each node's output goes to Dir/n<id>/weir.log,
//     one section per run, so the logs outlive the processes.
//   - Proxy and Mesh: one TCP proxy per ordered pair of brokers and per
//     listener (Kafka, controller). Brokers learn the proxies through
//     DialOverridesEnv. Mesh.Isolate cuts a broker off: connections are
//     reset, new ones accepted and held silent until Heal (see Proxy for
//     why). Clients dial brokers directly and are never cut.
//   - Probe: Metadata and ListOffsets sent to one chosen broker, to see
//     what each broker believes.
//   - Producer, Consumer: the workload. A franz-go idempotent acks=all
//     producer writes continuously, recording every acknowledged
//     (partition, offset, value); franz-go and sarama consumers read every
//     partition continuously, recording what they were served. Values are
//     kept as sequence number and FNV-64 sum only.
//   - Injector: the faults (FaultKill, FaultPause, FaultCut, FaultRestart)
//     with the time from each fault until a surviving broker's metadata
//     shows a new live leader, and the time until the cluster is healthy
//     again (every partition led by a live broker with a full ISR).
//   - Verify and CompareReplicas: the invariants, checked on the records
//     acknowledged, served and read back, and on the segment files of
//     every replica (parsed with core/record, batch by batch up to the
//     high watermark; segment boundaries may differ, batch bytes may not).
//   - Run: all of it in order, returning a Report whose String is the
//     summary the chaos tests print.
//
// Everything that starts goroutines or processes (Proxy, Mesh, Node,
// Cluster, Probe, Producer, Consumer) is stopped by its Close or Stop,
// which waits for them. Brokers are started with SIGKILL as their parent-
// death signal on Linux, so an interrupted test leaves none behind.
package chaos

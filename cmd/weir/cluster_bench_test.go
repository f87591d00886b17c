package main

// The replication benchmark: acks=all produce throughput of a three-broker
// cluster with replication factor 3 (min.insync.replicas 2) against one
// broker with replication factor 1, on the same machine, with the same
// client and records, in the same run:
//
//	go test -run '^$' -bench '^BenchmarkClusterProduce$' -benchtime 200000x ./cmd/weir
//
// Every broker is a `weir serve` process started by internal/chaos (no
// proxies: brokers talk to each other directly). The reported metrics are
// rf3-MB/s and rf1-MB/s (record value bytes, 10^6 bytes per second) and
// ratio (rf3/rf1). As in bench_test.go, b.N records go through each
// cluster in alternating rounds, so both see the same machine; ns/op is
// both clusters' time together per record. On a small machine the three
// brokers and the client share few cores, which the ratio includes.

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirmq/weir/internal/chaos"
)

// benchCluster is one cluster under test and its warm producer.
type benchCluster struct {
	name     string
	c        *chaos.Cluster
	probe    *chaos.Probe
	rf       int
	producer *kgo.Client
}

func startBenchCluster(b *testing.B, bin, dir string, nodes int) *benchCluster {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := chaos.StartCluster(ctx, chaos.ClusterOptions{Binary: bin, Dir: dir, Nodes: nodes})
	if err != nil {
		b.Fatal(err)
	}
	bc := &benchCluster{name: fmt.Sprintf("rf%d", min(nodes, 3)), c: c, probe: chaos.NewProbe(c.Seeds()), rf: min(nodes, 3)}
	b.Cleanup(bc.close)
	return bc
}

func (bc *benchCluster) close() {
	if bc.producer != nil {
		bc.producer.Close()
	}
	bc.probe.Close()
	bc.c.Close()
}

// topic creates topic with the given partitions on the cluster, waits
// until every partition is fully replicated, and warms a producer on it.
func (bc *benchCluster) topic(b *testing.B, topic string, partitions int32) {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	minISR := min(bc.rf, 2)
	if err := bc.probe.CreateTopic(ctx, topic, partitions, int16(bc.rf), map[string]string{"min.insync.replicas": strconv.Itoa(minISR)}); err != nil {
		b.Fatal(err)
	}
	in := &chaos.Injector{Cluster: bc.c, Probe: bc.probe, Topic: topic, Partitions: partitions, RF: bc.rf}
	if err := in.WaitHealthy(ctx, time.Minute); err != nil {
		b.Fatal(err)
	}
	if bc.producer == nil {
		cl, err := kgo.NewClient(kgo.SeedBrokers(bc.c.Seeds()...), kgo.RequiredAcks(kgo.AllISRAcks()),
			kgo.ProducerBatchCompression(kgo.NoCompression()))
		if err != nil {
			b.Fatal(err)
		}
		bc.producer = cl
	}
	if err := produceN(bc.producer, topic, benchValue(), benchWarmupRecords); err != nil {
		b.Fatalf("warming up %s: %v", bc.name, err)
	}
}

// BenchmarkClusterProduce produces b.N records of 1 KiB with acks=all,
// idempotent, to a 3-broker RF=3 cluster and to a 1-broker RF=1 one, and
// reports both rates and their ratio.
func BenchmarkClusterProduce(b *testing.B) {
	bin := chaosBinary(b)
	dir, err := os.MkdirTemp("", "weir-cluster-bench-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	clusters := []*benchCluster{
		startBenchCluster(b, bin, filepath.Join(dir, "rf3"), 3),
		startBenchCluster(b, bin, filepath.Join(dir, "rf1"), 1),
	}
	value := benchValue()
	for _, partitions := range benchPartitions {
		topic := fmt.Sprintf("bench-%d", partitions)
		for _, bc := range clusters {
			bc.topic(b, topic, partitions)
		}
		b.Run(fmt.Sprintf("partitions=%d", partitions), func(b *testing.B) {
			var took [2]time.Duration
			b.ReportAllocs()
			b.ResetTimer()
			for r, left := 0, b.N; left > 0; r++ {
				n := min(left, benchRoundRecords)
				left -= n
				for j := range clusters {
					i := (j + r) % len(clusters)
					start := time.Now()
					if err := produceN(clusters[i].producer, topic, value, n); err != nil {
						b.Fatalf("producing to %s: %v", clusters[i].name, err)
					}
					took[i] += time.Since(start)
				}
			}
			b.StopTimer()
			mb := float64(b.N) * benchValueSize / 1e6
			rf3, rf1 := mb/took[0].Seconds(), mb/took[1].Seconds()
			b.ReportMetric(rf3, "rf3-MB/s")
			b.ReportMetric(rf1, "rf1-MB/s")
			b.ReportMetric(rf3/rf1, "ratio")
		})
	}
}

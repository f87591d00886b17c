package wasm

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/weirmq/weir/partitioners"
	"github.com/weirmq/weir/sdk"
)

// benchKeys returns n keys of 16 to 32 bytes, like typical entity ids.
func benchKeys(n int) [][]byte {
	rng := rand.New(rand.NewPCG(7, 7))
	keys := make([][]byte, n)
	for i := range keys {
		k := make([]byte, 16+rng.IntN(17))
		for j := range k {
			k[j] = 'a' + byte(rng.IntN(26))
		}
		keys[i] = k
	}
	return keys
}

// BenchmarkPartitioner reports the per-key cost (ns/key) of partitioning
// batches of 1, 100 and 1,000 keys with:
//
//   - wasm: the murmur2 Go guest (testdata/murmur2) as the broker runs it;
//   - native: the built-in partitioners.Murmur2();
//   - wasm-raw: the hand-written module (tiny_test.go), which answers
//     partition 0 in a tight WASM loop: the host's and the ABI's own cost
//     per call and per key, without a Go guest;
//   - wasm-nochecks: the Go guest without wazero's termination checks
//     (never done outside this benchmark: such a module cannot be stopped
//     at its deadline), to show what the checks cost a Go guest.
//
// The target is ≤ 100 ns/key at batch 100. Calls get a 10 s deadline: on
// an overloaded machine a call's wall time has a long tail, and a
// benchmark measures throughput, not the deadline.
func BenchmarkPartitioner(b *testing.B) {
	open := func(b *testing.B, wasm []byte) sdk.Partitioner {
		m, err := OpenBytes(context.Background(), wasm, Options{Name: "bench", PoolSize: 1, CacheDir: testCacheDir(b), Logger: quiet, CallTimeout: 10 * time.Second})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { m.Close(context.Background()) })
		p, _ := m.Partitioner()
		return p
	}
	goGuest := moduleBytes(b, "murmur2")
	impls := []struct {
		name string
		p    func(b *testing.B) sdk.Partitioner
	}{
		{"wasm", func(b *testing.B) sdk.Partitioner { return open(b, goGuest) }},
		{"native", func(*testing.B) sdk.Partitioner { return partitioners.Murmur2() }},
		{"wasm-raw", func(b *testing.B) sdk.Partitioner { return open(b, tinyPartitioner()) }},
		{"wasm-nochecks", func(b *testing.B) sdk.Partitioner {
			terminationChecksForTesting = false
			defer func() { terminationChecksForTesting = true }()
			return open(b, goGuest)
		}},
	}
	for _, impl := range impls {
		for _, batch := range []int{1, 100, 1000} {
			b.Run(fmt.Sprintf("%s/batch=%d", impl.name, batch), func(b *testing.B) {
				p := impl.p(b)
				in := sdk.PartitionInput{Topic: "orders", NumPartitions: 64, Keys: benchKeys(batch)}
				out := make([]int32, batch)
				ctx := context.Background()
				b.ReportAllocs()
				for b.Loop() {
					if err := p.Partition(ctx, in, out); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/key")
			})
		}
	}
}

// BenchmarkPoolParallel measures the instance pool's throughput with two
// goroutines (GOMAXPROCS=2) sharing a pool of two instances of the murmur2
// guest, batches of 100 keys.
func BenchmarkPoolParallel(b *testing.B) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	m := openTest(b, "murmur2", Options{PoolSize: 2})
	p, _ := m.Partitioner()
	keys := benchKeys(100)
	b.ReportAllocs()
	b.SetParallelism(1) // one goroutine per P: 2
	b.RunParallel(func(pb *testing.PB) {
		in := sdk.PartitionInput{Topic: "orders", NumPartitions: 64, Keys: keys}
		out := make([]int32, len(keys))
		for pb.Next() {
			if err := p.Partition(context.Background(), in, out); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(keys)), "ns/key")
}

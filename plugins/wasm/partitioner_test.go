package wasm

import (
	"context"
	"errors"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/weirmq/weir/partitioners"
	"github.com/weirmq/weir/plugins/fallback"
	"github.com/weirmq/weir/sdk"
)

// differentialKeys is how many random keys the WASM murmur2 partitioner
// and the built-in must agree on; WEIR_WASM_DIFF_KEYS overrides it.
func differentialKeys(t *testing.T) int {
	if s := os.Getenv("WEIR_WASM_DIFF_KEYS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("WEIR_WASM_DIFF_KEYS=%q: %v", s, err)
		}
		return n
	}
	return 100_000
}

// randomKeys returns n keys: about 5% nil (no key), 5% empty, the rest
// random bytes of length 1 to 64 (every tail length of murmur2's 4-byte
// blocks is covered).
func randomKeys(rng *rand.Rand, n int) [][]byte {
	keys := make([][]byte, n)
	for i := range keys {
		switch r := rng.IntN(20); r {
		case 0: // nil: no key
		case 1:
			keys[i] = []byte{}
		default:
			k := make([]byte, 1+rng.IntN(64))
			for j := range k {
				k[j] = byte(rng.Uint32())
			}
			keys[i] = k
		}
	}
	return keys
}

// The WASM murmur2 partitioner (testdata/murmur2, an independent
// implementation built with the sdk/wasm helpers) and the built-in agree
// on every key, including nil keys (both go round-robin, and with one
// instance both walk the same sequence) and empty keys, over batches of
// random sizes and partition counts.
func TestWASMMurmur2AgreesWithBuiltin(t *testing.T) {
	m := openTest(t, "murmur2", Options{PoolSize: 1})
	wasmP, ok := m.Partitioner()
	if !ok {
		t.Fatal("murmur2 module has no partitioner")
	}
	if wasmP.Name() != "murmur2" {
		t.Fatalf("Name() = %q", wasmP.Name())
	}
	native := partitioners.Murmur2()
	rng := rand.New(rand.NewPCG(1, 2))
	total := differentialKeys(t)
	ctx := context.Background()
	for done := 0; done < total; {
		in := sdk.PartitionInput{
			Topic:         "orders",
			NumPartitions: []int32{1, 3, 12, 100, 1 << 20}[rng.IntN(5)],
			Keys:          randomKeys(rng, min(total-done, 1+rng.IntN(700))),
		}
		got, want := make([]int32, len(in.Keys)), make([]int32, len(in.Keys))
		if err := wasmP.Partition(ctx, in, got); err != nil {
			t.Fatal(err)
		}
		if err := native.Partition(ctx, in, want); err != nil {
			t.Fatal(err)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("key %q (nil %v) of %d partitions: wasm %d, built-in %d", in.Keys[i], in.Keys[i] == nil, in.NumPartitions, got[i], want[i])
			}
		}
		done += len(in.Keys)
	}
}

// Each hostile behaviour gives a clean error naming the plugin and the
// kind of failure; an instance broken by it is replaced (the next call
// works on a fresh one) while one that reported an error is kept.
func TestHostileModulesFailCleanly(t *testing.T) {
	logger, logs := testLogger()
	m := openTest(t, "hostile", Options{PoolSize: 1, CallTimeout: time.Second, MaxMemoryPages: 128, Logger: logger})
	p, _ := m.Partitioner()
	ctx := context.Background()
	keys := [][]byte{nil, {}, []byte("k")}
	call := func(topic string) ([]int32, error) {
		out := make([]int32, len(keys))
		return out, p.Partition(ctx, sdk.PartitionInput{Topic: topic, NumPartitions: 4, Keys: keys}, out)
	}
	for _, tc := range []struct {
		topic    string
		want     error
		msg      string // in the error
		replaced bool
	}{
		{"error", ErrGuest, "hostile says no", false},
		{"decline", sdk.ErrDecline, "declined", false},
		{"trap", ErrInstanceFailed, "out of bounds memory access", true},
		{"panic", ErrInstanceFailed, "trapped", true},
		{"loop", ErrTimeout, "ran past its 1s deadline", true},
		{"grow", ErrInstanceFailed, "of 128 pages", true}, // the allocation that failed may have wanted less than all that is left
		{"badlen", ErrMalformed, "result length 1073741824 exceeds", true},
		{"badcount", ErrMalformed, "answer of 8 bytes for 3 keys", true},
		{"badptr", ErrMalformed, "returned address 0xffff0000", true},
	} {
		t.Run(tc.topic, func(t *testing.T) {
			started := m.instancesStarted.Load()
			_, err := call(tc.topic)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %v; want one wrapping %v and containing %q", err, tc.want, tc.msg)
			}
			if tc.want != sdk.ErrDecline && !strings.Contains(err.Error(), `wasm plugin "hostile"`) {
				t.Errorf("error does not name the plugin: %v", err)
			}
			out, err := call("ok")
			if err != nil || out[0] != 3 || out[2] != 3 {
				t.Fatalf("call after %s: %v %v", tc.topic, out, err)
			}
			if got := m.instancesStarted.Load() - started; (got == 1) != tc.replaced {
				t.Fatalf("%d instances started after %s; replaced = %v", got, tc.topic, tc.replaced)
			}
			if tc.replaced && !strings.Contains(logs.String(), "instance discarded") {
				t.Fatalf("no log line about the discarded instance:\n%s", logs)
			}
		})
	}
	// A Go guest's panic message reaches the log through its stderr.
	if s := logs.String(); !strings.Contains(s, "hostile plugin panics") || !strings.Contains(s, "plugin=hostile") {
		t.Fatalf("the panic message is not in the log with the plugin's name:\n%s", s)
	}
}

// Wrapped with plugins/fallback, as the registry does, a hostile plugin
// costs nothing but a metric and a log line: every call is answered by
// murmur2, and after repeated failures the breaker opens.
func TestHostilePluginFallsBackToBuiltin(t *testing.T) {
	logger, logs := testLogger()
	m := openTest(t, "hostile", Options{Name: "tenant-router", PoolSize: 1, CallTimeout: 100 * time.Millisecond, Logger: logger})
	plugin, _ := m.Partitioner()
	reg := prometheus.NewRegistry()
	metrics, err := fallback.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	p := fallback.Partitioner(plugin, partitioners.Murmur2(), fallback.Options{
		Logger: logger, Metrics: metrics, FailureThreshold: 3, OpenFor: time.Hour})
	ctx := context.Background()
	keys := [][]byte{[]byte("alpha"), []byte("beta"), []byte("gamma")}
	for i, topic := range []string{"trap", "loop", "badptr", "trap", "panic"} {
		out := make([]int32, len(keys))
		if err := p.Partition(ctx, sdk.PartitionInput{Topic: topic, NumPartitions: 16, Keys: keys}, out); err != nil {
			t.Fatalf("call %d (%s): %v", i, topic, err)
		}
		for j, k := range keys {
			if want := partitioners.Murmur2Partition(k, 16); out[j] != want {
				t.Fatalf("call %d (%s): key %s on %d, want murmur2's %d", i, topic, k, out[j], want)
			}
		}
	}
	failed := metricValue(t, reg, "weir_plugin_calls_total", map[string]string{"plugin": "tenant-router", "result": "failed"})
	skipped := metricValue(t, reg, "weir_plugin_calls_total", map[string]string{"plugin": "tenant-router", "result": "skipped"})
	open := metricValue(t, reg, "weir_plugin_breaker_open", map[string]string{"plugin": "tenant-router", "point": "partitioner"})
	if failed != 3 || skipped != 2 || open != 1 {
		t.Fatalf("failed %v skipped %v breaker_open %v; want 3, 2, 1", failed, skipped, open)
	}
	s := logs.String()
	for _, want := range []string{"plugin=tenant-router", "circuit breaker open", "out of bounds memory access"} {
		if !strings.Contains(s, want) {
			t.Fatalf("log lacks %q:\n%s", want, s)
		}
	}
}

// metricValue returns the value of the sample of metric family name in
// reg whose labels include want, or 0 if there is none.
func metricValue(t *testing.T, reg *prometheus.Registry, name string, want map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	samples:
		for _, mt := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range mt.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			for k, v := range want {
				if labels[k] != v {
					continue samples
				}
			}
			return mt.GetCounter().GetValue() + mt.GetGauge().GetValue()
		}
	}
	return 0
}

// Many goroutines share a pool of two instances; every answer is right,
// and no more than two instances are ever started.
func TestPoolSharesInstancesAcrossGoroutines(t *testing.T) {
	m := openTest(t, "murmur2", Options{PoolSize: 2})
	p, _ := m.Partitioner()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 9))
			for range 200 {
				keys := randomKeys(rng, 1+rng.IntN(50))
				for i := range keys {
					if keys[i] == nil {
						keys[i] = []byte("x") // keyed only: round-robin order is per instance
					}
				}
				out := make([]int32, len(keys))
				if err := p.Partition(context.Background(), sdk.PartitionInput{Topic: "t", NumPartitions: 7, Keys: keys}, out); err != nil {
					errs <- err
					return
				}
				for i, k := range keys {
					if want := partitioners.Murmur2Partition(k, 7); out[i] != want {
						errs <- errors.New("wrong partition for " + string(k))
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := m.instancesStarted.Load(); n > 2 {
		t.Fatalf("%d instances started for a pool of 2", n)
	}
}

// The caller's context ending is reported as such (so the fallback does
// not count it against the plugin), and the instance is replaced.
func TestCallerCancelIsNotAPluginFailure(t *testing.T) {
	m := openTest(t, "hostile", Options{PoolSize: 1, CallTimeout: 10 * time.Second})
	p, _ := m.Partitioner()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := p.Partition(ctx, sdk.PartitionInput{Topic: "loop", NumPartitions: 2, Keys: [][]byte{nil}}, make([]int32, 1))
	if !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrTimeout) {
		t.Fatalf("error %v; want the caller's context.DeadlineExceeded, not ErrTimeout", err)
	}
	out := make([]int32, 1)
	if err := p.Partition(context.Background(), sdk.PartitionInput{Topic: "ok", NumPartitions: 2, Keys: [][]byte{nil}}, out); err != nil || out[0] != 1 {
		t.Fatalf("after cancel: %v %v", out, err)
	}
}

// Input that cannot fit the memory limit is refused before the guest is
// called, and the instance stays.
func TestInputLargerThanMemoryLimit(t *testing.T) {
	m := openTest(t, "murmur2", Options{PoolSize: 1, MaxMemoryPages: 64})
	p, _ := m.Partitioner()
	started := m.instancesStarted.Load()
	big := make([]byte, 64*65536)
	err := p.Partition(context.Background(), sdk.PartitionInput{Topic: "t", NumPartitions: 2, Keys: [][]byte{big}}, make([]int32, 1))
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("error %v; want ErrTooLarge", err)
	}
	out := make([]int32, 1)
	if err := p.Partition(context.Background(), sdk.PartitionInput{Topic: "t", NumPartitions: 2, Keys: [][]byte{[]byte("a")}}, out); err != nil {
		t.Fatal(err)
	}
	if m.instancesStarted.Load() != started {
		t.Fatal("the instance was replaced after a refused input")
	}
}

// A guest gets no file system, no environment and no arguments beyond the
// plugin's name.
func TestGuestIsContained(t *testing.T) {
	m := openTest(t, "hostile", Options{PoolSize: 1})
	p, _ := m.Partitioner()
	err := p.Partition(context.Background(), sdk.PartitionInput{Topic: "escape", NumPartitions: 2, Keys: [][]byte{nil}}, make([]int32, 1))
	if !errors.Is(err, ErrGuest) {
		t.Fatalf("error %v; want the guest's report", err)
	}
	if got := err.Error()[strings.Index(err.Error(), ErrGuest.Error())+len(ErrGuest.Error())+2:]; got != `args ["hostile"]` {
		t.Fatalf("the guest reached the outside world: %s", got)
	}
}

// A guest's weir.log lines reach the logger with the plugin's name, at a
// limited rate.
func TestGuestLogIsRateLimited(t *testing.T) {
	logger, logs := testLogger()
	m := openTest(t, "hostile", Options{PoolSize: 1, Logger: logger})
	p, _ := m.Partitioner()
	if err := p.Partition(context.Background(), sdk.PartitionInput{Topic: "log", NumPartitions: 2, Keys: [][]byte{nil}}, make([]int32, 1)); err != nil {
		t.Fatal(err)
	}
	n := strings.Count(logs.String(), `msg="hostile log line" plugin=hostile source=guest`)
	if n == 0 || n >= 500 {
		t.Fatalf("%d of 500 guest log lines logged; want some, rate-limited", n)
	}
}

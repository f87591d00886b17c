package wasm

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weirmq/weir/partitioners"
	"github.com/weirmq/weir/sdk"
)

// Modules the host cannot use are refused at Open with an error naming
// the plugin and the problem.
func TestOpenRefusesUnusableModules(t *testing.T) {
	ctx := context.Background()
	cache := testCacheDir(t)
	for _, tc := range []struct {
		name   string
		wasm   []byte
		config map[string]any
		want   string
	}{
		{"garbage", []byte("not wasm at all"), nil, "compile"},
		{"empty module", []byte("\x00asm\x01\x00\x00\x00"), nil, "does not export weir_abi_version"},
		{"wrong version", moduleBytes(t, "badversion"), nil, "ABI version 99"},
		{"config without weir_configure", moduleBytes(t, "hostile"), map[string]any{"x": 1}, "takes no configuration"},
		{"config refused", moduleBytes(t, "ttl"), map[string]any{"header": ""}, `refused the configuration: plugin returned an error: config "header" must name a header`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := OpenBytes(ctx, tc.wasm, Options{Name: "p1", Config: tc.config, CacheDir: cache, Logger: quiet})
			if !errors.Is(err, ErrBadModule) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), `"p1"`) {
				t.Fatalf("error %v; want ErrBadModule naming p1 and containing %q", err, tc.want)
			}
		})
	}
	for _, tc := range []struct {
		opts Options
		want string
	}{
		{Options{Path: "x.wasm"}, "empty name"},
		{Options{Name: "p"}, "no module path"},
		{Options{Name: "p", Path: filepath.Join(t.TempDir(), "missing.wasm")}, "no such file"},
		{Options{Name: "p", Path: modulePath(t, "murmur2"), MaxMemoryPages: 70000}, "exceeds the 65536"},
		{Options{Name: "p", Path: modulePath(t, "ttl"), Config: map[string]any{"f": func() {}}}, "cannot be encoded as JSON"},
	} {
		if _, err := Open(ctx, tc.opts); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Open(%+v) = %v; want an error containing %q", tc.opts, err, tc.want)
		}
	}
}

// The compilation cache directory is filled by the first Open, and a
// second runtime loads from it. (The hand-written module keeps this cheap
// under -race; the Go guests share testCacheDir.)
func TestCompilationCacheIsPopulated(t *testing.T) {
	dir := t.TempDir()
	for range 2 {
		m, err := OpenBytes(context.Background(), tinyPartitioner(), Options{Name: "tiny", CacheDir: dir, Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		p, _ := m.Partitioner()
		if err := p.Partition(context.Background(), sdk.PartitionInput{Topic: "t", NumPartitions: 5, Keys: [][]byte{[]byte("k")}}, make([]int32, 1)); err != nil {
			t.Fatal(err)
		}
		if err := m.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		var files int
		filepath.WalkDir(dir, func(_ string, d os.DirEntry, _ error) error {
			if d != nil && !d.IsDir() {
				files++
			}
			return nil
		})
		if files == 0 {
			t.Fatal("the compilation cache directory is empty after Open")
		}
	}
}

// installModule atomically replaces path with testdata/<name>'s module.
func installModule(t *testing.T, path string, wasm []byte) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, wasm, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// answersLikeHostile reports whether out is the hostile module's "ok"
// answer (every key on the last partition) rather than murmur2's.
func answersLikeHostile(out []int32, n int32) bool {
	for _, p := range out {
		if p != n-1 {
			return false
		}
	}
	return true
}

// reloadKeys are keys murmur2 does not put all on partition 63.
var reloadKeys = [][]byte{[]byte("a"), []byte("b"), []byte("c"), []byte("d")}

// Reload swaps the module while calls run on several goroutines: no call
// fails, a call already running finishes on the old module, and calls
// after Reload returns see the new one.
func TestReloadSwapsUnderConcurrentCalls(t *testing.T) {
	path := filepath.Join(t.TempDir(), "router.wasm")
	installModule(t, path, moduleBytes(t, "hostile"))
	m := openTest(t, "hostile", Options{Path: path, PoolSize: 2, CallTimeout: 5 * time.Second})
	p, _ := m.Partitioner()
	ctx := context.Background()
	const n = 64

	// A slow call (300 ms in the guest) that starts before the swap.
	slow := make(chan error, 1)
	slowStarted := make(chan struct{})
	go func() {
		out := make([]int32, len(reloadKeys))
		close(slowStarted)
		err := p.Partition(ctx, sdk.PartitionInput{Topic: "slow", NumPartitions: n, Keys: reloadKeys}, out)
		if err == nil && !answersLikeHostile(out, n) {
			err = errors.New("the in-flight call was answered by the new module")
		}
		slow <- err
	}()
	<-slowStarted

	var stop atomic.Bool
	var wg sync.WaitGroup
	var calls atomic.Int64
	errs := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			for !stop.Load() {
				out := make([]int32, len(reloadKeys))
				if err := p.Partition(ctx, sdk.PartitionInput{Topic: "ok", NumPartitions: n, Keys: reloadKeys}, out); err != nil {
					errs <- err
					return
				}
				calls.Add(1)
			}
		})
	}
	for calls.Load() < 20 {
		time.Sleep(time.Millisecond)
	}
	installModule(t, path, moduleBytes(t, "murmur2"))
	if err := m.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	out := make([]int32, len(reloadKeys))
	if err := p.Partition(ctx, sdk.PartitionInput{Topic: "ok", NumPartitions: n, Keys: reloadKeys}, out); err != nil {
		t.Fatal(err)
	}
	for i, k := range reloadKeys {
		if want := partitioners.Murmur2Partition(k, n); out[i] != want {
			t.Fatalf("after Reload key %s went to %d, want murmur2's %d", k, out[i], want)
		}
	}
	before := calls.Load()
	for calls.Load() < before+20 {
		time.Sleep(time.Millisecond)
	}
	stop.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("a call failed during the swap: %v", err)
	}
	if err := <-slow; err != nil {
		t.Fatal(err)
	}

	// A module that does not load leaves the current one in place.
	installModule(t, path, []byte("garbage"))
	if err := m.Reload(ctx); !errors.Is(err, ErrBadModule) {
		t.Fatalf("reload of garbage: %v", err)
	}
	if err := p.Partition(ctx, sdk.PartitionInput{Topic: "ok", NumPartitions: n, Keys: reloadKeys}, out); err != nil || answersLikeHostile(out, n) {
		t.Fatalf("after a failed reload: %v %v", out, err)
	}

	// A module without the hook: the partitioner handed out earlier fails
	// cleanly, and the Module says what it now implements.
	installModule(t, path, moduleBytes(t, "ttl"))
	if err := m.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if err := p.Partition(ctx, sdk.PartitionInput{Topic: "ok", NumPartitions: n, Keys: reloadKeys}, out); !errors.Is(err, ErrNoHook) || !strings.Contains(err.Error(), "weir_partition") {
		t.Fatalf("partitioner of a module without weir_partition: %v", err)
	}
	if _, ok := m.Partitioner(); ok || !slices.Equal(m.Kinds(), []string{KindCompactionFilter, KindAssignor}) {
		t.Fatalf("after reloading to a filter module: kinds %v", m.Kinds())
	}
}

// With WatchInterval, replacing the file swaps the module; a broken file
// is logged and skipped, and the module in use stays.
func TestWatcherReloadsChangedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "router.wasm")
	installModule(t, path, moduleBytes(t, "murmur2"))
	logger, logs := testLogger()
	m := openTest(t, "murmur2", Options{Path: path, WatchInterval: 10 * time.Millisecond, Logger: logger})
	p, _ := m.Partitioner()
	const n = 64
	call := func() []int32 {
		out := make([]int32, len(reloadKeys))
		if err := p.Partition(context.Background(), sdk.PartitionInput{Topic: "ok", NumPartitions: n, Keys: reloadKeys}, out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s; log:\n%s", what, logs)
			}
		}
	}
	installModule(t, path, []byte("garbage"))
	waitFor("the broken file to be reported", func() bool { return strings.Contains(logs.String(), "keeping the old one") })
	if answersLikeHostile(call(), n) {
		t.Fatal("a broken file replaced the module")
	}
	installModule(t, path, moduleBytes(t, "hostile"))
	waitFor("the new module", func() bool { return answersLikeHostile(call(), n) })
}

// After Close calls fail with ErrClosed, Reload too, and Close is
// idempotent; the sdk values handed out earlier fail cleanly.
func TestClose(t *testing.T) {
	m, err := Open(context.Background(), Options{Name: "c", Path: modulePath(t, "murmur2"), CacheDir: testCacheDir(t), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	p, _ := m.Partitioner()
	if err := m.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := p.Partition(context.Background(), sdk.PartitionInput{Topic: "t", NumPartitions: 1, Keys: [][]byte{nil}}, make([]int32, 1)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Partition after Close: %v", err)
	}
	if err := m.Reload(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Reload after Close: %v", err)
	}
	if err := m.Close(context.Background()); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if m.Kinds() != nil {
		t.Fatal("Kinds after Close")
	}
}

// OpenBytes loads from memory, and Reload restarts the same module.
func TestOpenBytesAndReload(t *testing.T) {
	b := moduleBytes(t, "murmur2")
	m, err := OpenBytes(context.Background(), b, Options{Name: "mem", CacheDir: testCacheDir(t), PoolSize: 1, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close(context.Background())
	clear(b) // OpenBytes keeps its own copy
	if err := m.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	p, _ := m.Partitioner()
	out := make([]int32, 1)
	if err := p.Partition(context.Background(), sdk.PartitionInput{Topic: "t", NumPartitions: 9, Keys: [][]byte{[]byte("z")}}, out); err != nil || out[0] != partitioners.Murmur2Partition([]byte("z"), 9) {
		t.Fatalf("%v %v", out, err)
	}
}

package wasm

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// The guest modules under testdata/, built once per test binary (all in
// parallel) on first use. Fuzz targets never build them. The first wasip1
// build on a fresh machine compiles Go's runtime for wasm (~30 s); later
// ones hit the build cache.
var testModules = []string{"murmur2", "hostile", "ttl", "badversion"}

var built struct {
	once  sync.Once
	dir   string
	paths map[string]string
	err   error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

// modulePath returns the path of testdata/<name> built as a wasip1
// reactor module, building every test module on the first call.
func modulePath(tb testing.TB, name string) string {
	tb.Helper()
	built.once.Do(func() {
		built.dir, built.err = os.MkdirTemp("", "weir-wasm-modules-")
		if built.err != nil {
			return
		}
		built.paths = make(map[string]string)
		var wg sync.WaitGroup
		errs := make([]error, len(testModules))
		for i, mod := range testModules {
			out := filepath.Join(built.dir, mod+".wasm")
			built.paths[mod] = out
			wg.Go(func() {
				cmd := exec.Command("go", "build", "-buildmode=c-shared", "-o", out, "./testdata/"+mod)
				cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
				if b, err := cmd.CombinedOutput(); err != nil {
					errs[i] = fmt.Errorf("building testdata/%s: %v\n%s", mod, err, b)
				}
			})
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				built.err = err
				return
			}
		}
	})
	if built.err != nil {
		tb.Fatal(built.err)
	}
	p, ok := built.paths[name]
	if !ok {
		tb.Fatalf("no test module %q", name)
	}
	return p
}

// testCacheDir is the compilation cache the tests share, so that each
// module is compiled once rather than once per Open. Compiling a Go guest
// takes about a second, and about twenty under -race, so the cache lives
// across test runs in the user's cache directory (as Go's build cache
// does): the normal run fills it and the -race run reuses it. The modules
// are reproducible builds, and wazero keys its cache by module hash, CPU
// features and its own version. WEIR_WASM_TEST_CACHE names another
// directory, or "off" for one that lasts a single test binary.
func testCacheDir(tb testing.TB) string {
	modulePath(tb, testModules[0])
	dir := os.Getenv("WEIR_WASM_TEST_CACHE")
	if dir == "" {
		if base, err := os.UserCacheDir(); err == nil {
			dir = filepath.Join(base, "weir", "wasm-test-compilation-cache")
		}
	}
	if dir == "" || dir == "off" {
		dir = filepath.Join(built.dir, "cache")
	}
	pruneCache.Do(func() { pruneTestCache(dir) })
	return dir
}

var pruneCache sync.Once

// maxTestCacheFiles bounds the persistent test cache: a compiled Go guest
// takes about 9 MB, and every change to a guest's code adds an entry.
const maxTestCacheFiles = 24

// pruneTestCache empties dir when it holds more than maxTestCacheFiles
// files; the next Opens fill it again.
func pruneTestCache(dir string) {
	var files []string
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, path)
		}
		return nil
	})
	if len(files) > maxTestCacheFiles {
		for _, f := range files {
			os.Remove(f)
		}
	}
}

// openTest opens testdata/<name> with opts (Name, Path, CacheDir and
// Logger filled in when empty) and closes it when the test ends.
func openTest(tb testing.TB, name string, opts Options) *Module {
	tb.Helper()
	if opts.Name == "" {
		opts.Name = name
	}
	if opts.Path == "" {
		opts.Path = modulePath(tb, name)
	}
	if opts.CacheDir == "" {
		opts.CacheDir = testCacheDir(tb)
	}
	if opts.Logger == nil {
		opts.Logger = quiet
	}
	if opts.CallTimeout == 0 {
		opts.CallTimeout = 5 * time.Second // -race on a busy machine is slow
	}
	m, err := Open(context.Background(), opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := m.Close(context.Background()); err != nil {
			tb.Errorf("close: %v", err)
		}
	})
	return m
}

// moduleBytes returns the built module's bytes.
func moduleBytes(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(modulePath(tb, name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// syncBuffer is a log sink that tests read while the module writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func testLogger() (*slog.Logger, *syncBuffer) {
	var buf syncBuffer
	return slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})), &buf
}

// quiet is the logger for tests that do not read the log.
var quiet = slog.New(slog.DiscardHandler)

package goplugin

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// bins holds the test plugin binaries, built once per test binary by
// TestMain from testdata/<name>/main.go.
var bins = map[string]string{}

var binNames = []string{"healthy", "hostile", "badversion", "othercookie", "notplugin"}

// hostEnv makes the test binary act as a broker that opens the plugin
// binary named by the variable, prints the plugin's pid and waits to be
// killed (TestPluginDiesWithItsHost).
const hostEnv = "GOPLUGIN_TEST_HOST"

func TestMain(m *testing.M) {
	if bin := os.Getenv(hostEnv); bin != "" {
		c, err := Open(context.Background(), Options{Name: "orphan", Command: bin})
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		fmt.Println(c.pidForTesting())
		select {}
	}
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "goplugin-test-bins")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(os.Getenv("GOROOT"), "bin", "go")
	}
	// -s -w: no symbol tables; linking is most of the build time.
	args := []string{"build", "-ldflags=-s -w", "-o", dir + string(filepath.Separator)}
	for _, name := range binNames {
		args = append(args, "./testdata/"+name)
		bins[name] = filepath.Join(dir, name)
	}
	cmd := exec.Command(goTool, args...)
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building the test plugins: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// syncBuffer is a log destination tests read while plugins write.
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

// lines returns the log lines containing every one of parts.
func (s *syncBuffer) lines(parts ...string) []string {
	var out []string
	for _, line := range strings.Split(s.String(), "\n") {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(line, p)
		}
		if ok && line != "" {
			out = append(out, line)
		}
	}
	return out
}

func testLogger() (*slog.Logger, *syncBuffer) {
	var buf syncBuffer
	return slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})), &buf
}

// openPlugin opens the named test binary with quick timings, closing it
// when the test ends.
func openPlugin(t testing.TB, bin string, edit func(*Options)) (*Client, *syncBuffer) {
	t.Helper()
	logger, logs := testLogger()
	opts := Options{
		Name:              "test-" + bin,
		Command:           bins[bin],
		CallTimeout:       5 * time.Second,
		HealthInterval:    time.Second,
		RestartBackoff:    50 * time.Millisecond,
		MaxRestartBackoff: 5 * time.Second,
		Logger:            logger,
	}
	if edit != nil {
		edit(&opts)
	}
	c, err := Open(context.Background(), opts)
	if err != nil {
		t.Fatalf("Open %s: %v\nlogs:\n%s", bin, err, logs)
	}
	t.Cleanup(func() { c.Close() })
	return c, logs
}

// waitFor polls cond until it holds or 10 s pass.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// pid returns the current process's id, or 0 while it is down.
func (c *Client) pidForTesting() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mu.cur == nil {
		return 0
	}
	return c.mu.cur.pid
}

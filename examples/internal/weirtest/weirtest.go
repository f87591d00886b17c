// Package weirtest runs the examples' tests against a real Weir: it builds
// the weir binary and the example plugins, starts `weir serve` as a process
// on free ports with a weir.toml of the test's, and runs weir commands, the
// way a user following an example's README would.
//
// It is for the examples' tests only; it speaks to Weir through its
// command line, the Kafka protocol and HTTP, never through core.
package weirtest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Main is an example package's TestMain: it builds the weir binary into a
// temporary directory, lets build make the example's plugin there (given
// the directory and the weir binary), runs the tests, removes the
// directory and exits with the tests' status. A failed build prints why
// and exits 1.
func Main(m *testing.M, name string, build func(dir, weir string) error) {
	dir, err := os.MkdirTemp("", "weir-example-"+name+"-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := func() int {
		weir, err := BuildWeir(dir)
		if err == nil {
			err = build(dir, weir)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return m.Run()
	}()
	os.RemoveAll(dir)
	os.Exit(code)
}

// BuildWeir builds the weir command into dir and returns the binary's
// path. It returns go build's output in the error when the build fails.
func BuildWeir(dir string) (string, error) {
	bin := filepath.Join(dir, "weir")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/weirmq/weir/cmd/weir").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build weir: %v\n%s", err, out)
	}
	return bin, nil
}

// BuildWASM builds the Go main package in srcDir into the WASM module out
// with `weir plugin build`, as the examples' READMEs do.
func BuildWASM(weir, srcDir, out string) error {
	res, err := exec.Command(weir, "plugin", "build", srcDir, "-o", out).CombinedOutput()
	if err != nil {
		return fmt.Errorf("weir plugin build %s: %v\n%s", srcDir, err, res)
	}
	return nil
}

// BuildCommand builds the Go main package in srcDir into the executable
// out (a go-plugin binary).
func BuildCommand(srcDir, out string) error {
	c := exec.Command("go", "build", "-o", out, ".")
	c.Dir = srcDir
	if res, err := c.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %v\n%s", srcDir, err, res)
	}
	return nil
}

// Node is a `weir serve` process.
type Node struct {
	Weir  string // the weir binary
	Dir   string // the node's directory: weir.toml, data/
	Kafka string // the Kafka listener, host:port
	HTTP  string // the HTTP listener, host:port

	cmd    *exec.Cmd
	stderr *syncBuffer
	done   chan struct{}
}

var (
	kafkaAddrRE = regexp.MustCompile(`kafka_addr=(\S+)`)
	httpAddrRE  = regexp.MustCompile(`http_addr=(\S+)`)
)

// Start writes toml to weir.toml in a new temp dir and runs `weir serve`
// on it, with its data in the same dir and every listener on a free
// loopback port. It returns once the node logs that it started, and stops
// the node (SIGTERM, then SIGKILL) when the test ends. It fails the test
// if the node does not start within 30 seconds, showing its log.
func Start(t testing.TB, weir, toml string) *Node {
	t.Helper()
	return StartIn(t, weir, t.TempDir(), toml)
}

// StartIn is Start in the directory dir, which must exist: the node runs
// there (relative paths in toml are relative to dir), with its data in
// dir/data (its WASM compilation cache in dir/data/plugin-cache).
func StartIn(t testing.TB, weir, dir, toml string) *Node {
	t.Helper()
	n := &Node{Weir: weir, Dir: dir, stderr: &syncBuffer{}, done: make(chan struct{})}
	cfg := filepath.Join(n.Dir, "weir.toml")
	if err := os.WriteFile(cfg, []byte(toml), 0o644); err != nil {
		t.Fatal(err)
	}
	n.cmd = exec.Command(weir, "serve", "--config", cfg, "--data-dir", filepath.Join(n.Dir, "data"),
		"--kafka-addr", "127.0.0.1:0", "--controller-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0")
	n.cmd.Dir = n.Dir // relative paths in the configuration are relative to it
	n.cmd.Stderr = n.stderr
	if err := n.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { n.cmd.Wait(); close(n.done) }()
	t.Cleanup(func() { n.Stop(t) })
	deadline := time.After(30 * time.Second)
	for {
		log := n.stderr.String()
		if strings.Contains(log, "weir node started") {
			n.Kafka = kafkaAddrRE.FindStringSubmatch(log)[1]
			n.HTTP = httpAddrRE.FindStringSubmatch(log)[1]
			return n
		}
		select {
		case <-n.done:
			t.Fatalf("weir serve exited at start:\n%s", log)
		case <-deadline:
			t.Fatalf("weir serve did not start in 30s:\n%s", log)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Stop stops the node with SIGTERM, or SIGKILL after 10 seconds. It is
// idempotent.
func (n *Node) Stop(t testing.TB) {
	select {
	case <-n.done:
		return
	default:
	}
	n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.done:
	case <-time.After(10 * time.Second):
		n.cmd.Process.Kill()
		<-n.done
		t.Errorf("weir serve did not stop on SIGTERM:\n%s", n.Log())
	}
}

// Log returns what the node has logged so far.
func (n *Node) Log() string { return n.stderr.String() }

// Run runs the weir command with args (and stdin), with WEIR_BROKERS and
// WEIR_HTTP pointing at the node, and returns its stdout and stderr. err
// is the command's exit error.
func (n *Node) Run(stdin string, args ...string) (stdout, stderr string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c := exec.CommandContext(ctx, n.Weir, args...)
	c.Env = append(os.Environ(), "WEIR_BROKERS="+n.Kafka, "WEIR_HTTP="+n.HTTP)
	c.Stdin = strings.NewReader(stdin)
	var o, e bytes.Buffer
	c.Stdout, c.Stderr = &o, &e
	err = c.Run()
	return o.String(), e.String(), err
}

// MustRun is Run failing the test when the command fails.
func (n *Node) MustRun(t testing.TB, stdin string, args ...string) string {
	t.Helper()
	out, errOut, err := n.Run(stdin, args...)
	if err != nil {
		t.Fatalf("weir %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, out, errOut)
	}
	return out
}

// Client returns a franz-go client for the node, closed when the test ends.
func (n *Node) Client(t testing.TB, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(n.Kafka)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// Admin returns an admin client for the node.
func (n *Node) Admin(t testing.TB) *kadm.Client { return kadm.NewClient(n.Client(t)) }

// ConsumeAll reads count records from the start of topic and returns
// them, failing the test if they do not arrive within 30 seconds.
func (n *Node) ConsumeAll(t testing.TB, topic string, count int) []*kgo.Record {
	t.Helper()
	cl := n.Client(t, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) < count {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d records of %s: %v", len(out), count, topic, err)
		}
		fs.EachError(func(tp string, p int32, err error) { t.Fatalf("fetching %s-%d: %v", tp, p, err) })
		out = append(out, fs.Records()...)
	}
	return out
}

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

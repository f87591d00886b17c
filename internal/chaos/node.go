package chaos

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// startedLine is what `weir serve` logs once it serves Kafka requests.
const startedLine = "weir node started"

// NodeState is what a node's process is doing, as far as the harness knows.
type NodeState int

// The states of a node.
const (
	NodeDown    NodeState = iota // not started yet, exited, or killed
	NodeRunning                  // started (the process may still be starting up)
	NodePaused                   // stopped with SIGSTOP
)

func (s NodeState) String() string {
	switch s {
	case NodeDown:
		return "down"
	case NodeRunning:
		return "running"
	case NodePaused:
		return "paused"
	}
	return "NodeState(" + strconv.Itoa(int(s)) + ")"
}

// Node is one `weir serve` process of a cluster, with its own directory
// (weir.toml, data/, weir.log) and fixed addresses that survive restarts.
// Every run's output (stdout and stderr) is appended to LogPath, after a
// line naming the run.
//
// A Node is safe for concurrent use. Its methods that take a context use
// it only for how long they wait.
type Node struct {
	ID             int32
	Dir            string // the node's directory
	DataDir        string // Dir/data
	ConfigPath     string // Dir/weir.toml
	LogPath        string // Dir/weir.log
	KafkaAddr      string // 127.0.0.1:port, fixed
	ControllerAddr string
	HTTPAddr       string

	bin string
	env []string // extra environment, "K=V"

	wg sync.WaitGroup // the reaper of each run
	mu struct {
		sync.Mutex
		state    NodeState
		runs     int
		cmd      *exec.Cmd
		exited   chan struct{} // closed when the current run's process has exited
		logStart int64         // size of the log file when the current run began
		exitErr  error         // how the last run ended
	}
}

// Config returns the node's TOML configuration as written by the cluster.
func (n *Node) Config() (string, error) {
	b, err := os.ReadFile(n.ConfigPath)
	return string(b), err
}

// State returns what the node's process is doing.
func (n *Node) State() NodeState {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.mu.state
}

// Runs returns how many times the node has been started.
func (n *Node) Runs() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.mu.runs
}

// PID returns the process id of the current run, or 0 when down.
func (n *Node) PID() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.mu.state == NodeDown || n.mu.cmd == nil {
		return 0
	}
	return n.mu.cmd.Process.Pid
}

// Launch starts the node's process without waiting for it to serve. It
// returns an error if the node is not down or the process cannot start.
func (n *Node) Launch() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.mu.state != NodeDown {
		return fmt.Errorf("chaos: node %d is %s, not down", n.ID, n.mu.state)
	}
	f, err := os.OpenFile(n.LogPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	n.mu.runs++
	fmt.Fprintf(f, "=== chaos: node %d run %d at %s ===\n", n.ID, n.mu.runs, time.Now().Format(time.RFC3339Nano))
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	cmd := exec.Command(n.bin, "serve", "--config", n.ConfigPath)
	cmd.Dir = n.Dir
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = append(os.Environ(), n.env...)
	cmd.SysProcAttr = childProcAttr()
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("chaos: starting node %d: %w", n.ID, err)
	}
	exited := make(chan struct{})
	n.mu.cmd, n.mu.exited, n.mu.logStart, n.mu.state, n.mu.exitErr = cmd, exited, st.Size(), NodeRunning, nil
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		err := cmd.Wait()
		f.Close()
		n.mu.Lock()
		if n.mu.cmd == cmd {
			n.mu.state, n.mu.exitErr = NodeDown, err
		}
		n.mu.Unlock()
		close(exited)
	}()
	return nil
}

// WaitStarted waits until the current run logs that it serves, and
// returns nil then. It returns an error with the run's log tail if the
// process exits first or ctx ends first.
func (n *Node) WaitStarted(ctx context.Context) error {
	n.mu.Lock()
	exited, from := n.mu.exited, n.mu.logStart
	n.mu.Unlock()
	if exited == nil {
		return fmt.Errorf("chaos: node %d was never launched", n.ID)
	}
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		out, _ := n.readLog(from, -1)
		if bytes.Contains(out, []byte(startedLine)) {
			return nil
		}
		select {
		case <-exited:
			out, _ := n.readLog(from, -1)
			if bytes.Contains(out, []byte(startedLine)) {
				return nil // started, then exited; the caller finds out from State
			}
			return fmt.Errorf("chaos: node %d exited before serving (%v); its log:\n%s", n.ID, n.ExitErr(), tail(out, 4096))
		case <-ctx.Done():
			return fmt.Errorf("chaos: node %d did not log %q: %w; its log:\n%s", n.ID, startedLine, ctx.Err(), tail(out, 4096))
		case <-tick.C:
		}
	}
}

// Start launches the node and waits until it serves; see Launch and
// WaitStarted.
func (n *Node) Start(ctx context.Context) error {
	if err := n.Launch(); err != nil {
		return err
	}
	return n.WaitStarted(ctx)
}

// ExitErr returns how the last run ended (nil for exit status 0, or while
// running).
func (n *Node) ExitErr() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.mu.exitErr
}

// signal sends sig to the current run and returns its exit channel. It
// returns an error if the node is down.
func (n *Node) signal(sig syscall.Signal, newState NodeState) (chan struct{}, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.mu.state == NodeDown {
		return nil, fmt.Errorf("chaos: node %d is down", n.ID)
	}
	if err := n.mu.cmd.Process.Signal(sig); err != nil {
		return nil, fmt.Errorf("chaos: signalling node %d: %w", n.ID, err)
	}
	if newState != NodeDown {
		n.mu.state = newState
	}
	return n.mu.exited, nil
}

// Kill sends SIGKILL and waits until the process is gone. It returns an
// error if the node is down.
func (n *Node) Kill() error {
	exited, err := n.signal(syscall.SIGKILL, NodeDown)
	if err != nil {
		return err
	}
	<-exited
	return nil
}

// Pause stops the process with SIGSTOP; its sockets stay open and its
// peers see it hang. It returns an error if the node is not running.
func (n *Node) Pause() error {
	if s := n.State(); s != NodeRunning {
		return fmt.Errorf("chaos: node %d is %s, not running", n.ID, s)
	}
	_, err := n.signal(syscall.SIGSTOP, NodePaused)
	return err
}

// Resume continues a paused process with SIGCONT. It returns an error if
// the node is not paused.
func (n *Node) Resume() error {
	if s := n.State(); s != NodePaused {
		return fmt.Errorf("chaos: node %d is %s, not paused", n.ID, s)
	}
	_, err := n.signal(syscall.SIGCONT, NodeRunning)
	return err
}

// Stop asks the process to shut down cleanly (SIGCONT first if paused,
// then SIGTERM) and waits for it to exit. If ctx ends first it kills the
// process and returns an error; it also returns an error if the process
// exits with a non-zero status. Stopping a node that is down does
// nothing.
func (n *Node) Stop(ctx context.Context) error {
	if n.State() == NodeDown {
		return nil
	}
	if n.State() == NodePaused {
		if _, err := n.signal(syscall.SIGCONT, NodeRunning); err != nil {
			return err
		}
	}
	exited, err := n.signal(syscall.SIGTERM, NodeRunning)
	if err != nil {
		return err
	}
	select {
	case <-exited:
	case <-ctx.Done():
		_ = n.Kill()
		return fmt.Errorf("chaos: node %d did not exit after SIGTERM: %w", n.ID, ctx.Err())
	}
	if err := n.ExitErr(); err != nil {
		out, _ := n.readLog(n.logStartOfRun(), -1)
		return fmt.Errorf("chaos: node %d exited with %v after SIGTERM; its log:\n%s", n.ID, err, tail(out, 4096))
	}
	return nil
}

func (n *Node) logStartOfRun() int64 {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.mu.logStart
}

// Close kills the process if it runs and waits for every run's reaper.
// It returns nil.
func (n *Node) Close() error {
	_ = n.Kill()
	n.wg.Wait()
	return nil
}

// readLog returns the node's log from byte offset from, at most max bytes
// (max < 0: to the end).
func (n *Node) readLog(from int64, max int64) ([]byte, error) {
	f, err := os.Open(n.LogPath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if _, err := f.Seek(from, io.SeekStart); err != nil {
		return nil, err
	}
	if max < 0 {
		return io.ReadAll(f)
	}
	return io.ReadAll(io.LimitReader(f, max))
}

// LogTail returns the last max bytes of the node's log (all runs).
func (n *Node) LogTail(max int) string {
	b, _ := os.ReadFile(n.LogPath)
	return string(tail(b, max))
}

func tail(b []byte, max int) []byte {
	if len(b) <= max {
		return b
	}
	b = b[len(b)-max:]
	if i := bytes.IndexByte(b, '\n'); i >= 0 {
		b = b[i+1:]
	}
	return b
}

// tomlValue renders v as a TOML value: bool, integers, floats and
// strings; anything else is an error.
func tomlValue(v any) (string, error) {
	switch x := v.(type) {
	case bool:
		return strconv.FormatBool(x), nil
	case int:
		return strconv.Itoa(x), nil
	case int32:
		return strconv.FormatInt(int64(x), 10), nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64), nil
	case string:
		return strconv.Quote(x), nil
	}
	return "", fmt.Errorf("chaos: cannot write %T (%v) as a TOML value", v, v)
}

// writeTable appends a TOML table of Kafka-named settings, keys sorted.
func writeTable(b *strings.Builder, name string, kv map[string]any) error {
	if len(kv) == 0 {
		return nil
	}
	keys := make([]string, 0, len(kv))
	for k := range kv {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fmt.Fprintf(b, "\n[%s]\n", name)
	for _, k := range keys {
		v, err := tomlValue(kv[k])
		if err != nil {
			return fmt.Errorf("[%s] %q: %w", name, k, err)
		}
		fmt.Fprintf(b, "%s = %s\n", strconv.Quote(k), v)
	}
	return nil
}

// nodeConfig renders the weir.toml of node n of a cluster with the given
// voters, [broker] and [topic_defaults] settings.
func nodeConfig(n *Node, voters []string, broker, topicDefaults map[string]any) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "node_id  = %d\ndata_dir = %s\n\n[listeners]\n", n.ID, strconv.Quote(n.DataDir))
	fmt.Fprintf(&b, "kafka      = %s\ncontroller = %s\nhttp       = %s\n",
		strconv.Quote(n.KafkaAddr), strconv.Quote(n.ControllerAddr), strconv.Quote(n.HTTPAddr))
	quoted := make([]string, len(voters))
	for i, v := range voters {
		quoted[i] = strconv.Quote(v)
	}
	fmt.Fprintf(&b, "\n[cluster]\nvoters = [%s]\n", strings.Join(quoted, ", "))
	if err := writeTable(&b, "broker", broker); err != nil {
		return "", err
	}
	if err := writeTable(&b, "topic_defaults", topicDefaults); err != nil {
		return "", err
	}
	return b.String(), nil
}

// mkNodeDir creates the node's directory and writes its config.
func mkNodeDir(n *Node, config string) error {
	if err := os.MkdirAll(n.Dir, 0o755); err != nil {
		return err
	}
	return os.WriteFile(n.ConfigPath, []byte(config), 0o644)
}

// newNode lays out node id under root with the given ports.
func newNode(bin, root string, id int32, kafka, controller, http int) *Node {
	dir := filepath.Join(root, fmt.Sprintf("n%d", id))
	addr := func(p int) string { return "127.0.0.1:" + strconv.Itoa(p) }
	return &Node{
		ID: id, Dir: dir,
		DataDir:    filepath.Join(dir, "data"),
		ConfigPath: filepath.Join(dir, "weir.toml"),
		LogPath:    filepath.Join(dir, "weir.log"),
		KafkaAddr:  addr(kafka), ControllerAddr: addr(controller), HTTPAddr: addr(http),
		bin: bin,
	}
}

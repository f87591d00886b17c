package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	natsbridge "github.com/weirmq/weir/plugins/nats"
)

// startNATSServer starts a real NATS server with JetStream in a temp dir.
func startNATSServer(t *testing.T) *natsserver.Server {
	t.Helper()
	s, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: -1, JetStream: true,
		StoreDir: t.TempDir(), NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("NATS server did not start")
	}
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	return s
}

func natsJetStream(t *testing.T, url string) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}

var httpAddrRE = regexp.MustCompile(`http_addr=(\S+)`)

// weirServeProcess is `weir serve --config` as a process; it is killed at
// test end if still running.
type weirServeProcess struct {
	cmd              *exec.Cmd
	stderr           *syncBuffer
	kafkaAddr, httpA string
}

func startWeirServe(t *testing.T, bin string, args ...string) *weirServeProcess {
	t.Helper()
	p := &weirServeProcess{stderr: &syncBuffer{}}
	p.cmd = exec.Command(bin, append([]string{"serve"}, args...)...)
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.cmd.Process.Kill(); p.cmd.Wait() })
	deadline := time.Now().Add(30 * time.Second)
	for {
		out := p.stderr.String()
		if strings.Contains(out, "weir node started") {
			p.kafkaAddr = kafkaAddrRE.FindStringSubmatch(out)[1]
			p.httpA = httpAddrRE.FindStringSubmatch(out)[1]
			return p
		}
		if time.Now().After(deadline) || p.cmd.ProcessState != nil {
			t.Fatalf("weir serve did not start:\n%s", out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// bridgeStatus runs `weir bridge status --json --http addr` in-process.
func bridgeStatus(t *testing.T, addr string) natsbridge.StatusReport {
	t.Helper()
	root := newRootCommand()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs([]string{"bridge", "status", "--json", "--http", addr})
	if err := root.ExecuteContext(t.Context()); err != nil {
		t.Fatalf("weir bridge status: %v\n%s", err, errOut.String())
	}
	var report natsbridge.StatusReport
	if err := json.Unmarshal(out.Bytes(), &report); err != nil {
		t.Fatalf("weir bridge status --json printed %q: %v", out.String(), err)
	}
	return report
}

func topicRecords(t *testing.T, addr, topic string) int64 {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	offs, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil {
		return -1
	}
	var n int64
	offs.Each(func(o kadm.ListedOffset) {
		if o.Err == nil {
			n += o.Offset
		}
	})
	return n
}

func consumerState(t *testing.T, js jetstream.JetStream, stream, durable string) (settled bool, desc string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := js.Consumer(ctx, stream, durable)
	if err != nil {
		return false, err.Error()
	}
	info, err := c.Info(ctx)
	if err != nil {
		return false, err.Error()
	}
	return info.NumPending == 0 && info.NumAckPending == 0, fmt.Sprintf("pending %d, ack pending %d", info.NumPending, info.NumAckPending)
}

// crashMessages is how many messages TestBridgeSurvivesKill9OfWeir
// publishes: 20,000 unless WEIR_NATS_CRASH_MESSAGES says otherwise.
func crashMessages(t *testing.T) int {
	if s := os.Getenv("WEIR_NATS_CRASH_MESSAGES"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 100 {
			t.Fatalf("WEIR_NATS_CRASH_MESSAGES=%q is not a count of at least 100", s)
		}
		return n
	}
	return 20_000
}

// TestBridgeSurvivesKill9OfWeir runs the bridge inside `weir serve`, kills
// the process with SIGKILL while messages stream from JetStream, restarts
// it on the same data directory and Kafka port, and checks that every
// message published to JetStream is in the topic exactly once: none is
// lost (a message is acked only once committed, so JetStream redelivers
// what was not), and none is written twice (the restarted bridge reads
// the tail of the topic back into its dedupe window, which is at least
// max_ack_pending, the most JetStream can redeliver). Half the messages
// carry a Nats-Msg-Id and half are known by their stream sequence.
func TestBridgeSurvivesKill9OfWeir(t *testing.T) {
	n := crashMessages(t)
	bin := buildWeir(t)
	ns := startNATSServer(t)
	_, js := natsJetStream(t, ns.ClientURL())
	ctx := context.Background()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "CRASH", Subjects: []string{"crash.>"}, Storage: jetstream.FileStorage}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "weir.toml")
	cfg := fmt.Sprintf(`[listeners]
kafka      = "127.0.0.1:0"
controller = "127.0.0.1:0"
http       = "127.0.0.1:0"

[[bridge.nats]]
name    = "crash"
url     = %q
stream  = "CRASH"
durable = "weir"
topic   = "crash"
key     = "subject"
max_ack_pending = 2000
ack_wait_ms     = 2000   # what the killed node took but never acked comes back after this
`, ns.ClientURL())
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	p := startWeirServe(t, bin, "--config", cfgPath, "--data-dir", data)
	adm := kadm.NewClient(newTestClient(t, p.kafkaAddr))
	if resp, err := adm.CreateTopic(ctx, 3, 1, nil, "crash"); err != nil || resp.Err != nil {
		t.Fatalf("creating the topic: %v %v", err, resp.Err)
	}

	// Publish in the background while Weir is killed and restarted.
	published := make(chan error, 1)
	go func() {
		nc, err := nats.Connect(ns.ClientURL())
		if err != nil {
			published <- err
			return
		}
		defer nc.Close()
		pjs, _ := jetstream.New(nc)
		for start := 0; start < n; start += 500 {
			for i := start; i < min(start+500, n); i++ {
				m := nats.NewMsg("crash." + strconv.Itoa(i%10))
				if i%2 == 0 {
					m.Header.Set("Nats-Msg-Id", "m-"+strconv.Itoa(i))
				}
				m.Data = []byte(strconv.Itoa(i))
				if _, err := pjs.PublishMsgAsync(m); err != nil {
					published <- err
					return
				}
			}
			select {
			case <-pjs.PublishAsyncComplete():
			case <-time.After(30 * time.Second):
				published <- fmt.Errorf("publishing stalled at %d", start)
				return
			}
			time.Sleep(2 * time.Millisecond) // a steady stream, not one burst
		}
		published <- nil
	}()

	deadline := time.Now().Add(60 * time.Second)
	var written int64
	for written = topicRecords(t, p.kafkaAddr, "crash"); written < int64(n/4); written = topicRecords(t, p.kafkaAddr, "crash") {
		if time.Now().After(deadline) {
			t.Fatalf("the bridge wrote too little:\n%s", p.stderr.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	p.cmd.Wait()
	before := p.stderr.String()
	if written >= int64(n) {
		t.Fatalf("killed only after all %d messages were written", written)
	}

	p = startWeirServe(t, bin, "--config", cfgPath, "--data-dir", data, "--kafka-addr", p.kafkaAddr)
	if !strings.Contains(p.stderr.String(), "clean_shutdown=false") {
		t.Fatalf("restart after kill -9 not seen as unclean:\n%s", p.stderr.String())
	}
	if err := <-published; err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(60 * time.Second)
	for {
		settled, desc := consumerState(t, js, "CRASH", "weir")
		if settled && topicRecords(t, p.kafkaAddr, "crash") >= int64(n) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("JetStream consumer: %s; topic holds %d of %d\nbefore the kill:\n%s\nafter:\n%s",
				desc, topicRecords(t, p.kafkaAddr, "crash"), n, before, p.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}

	// Every message exactly once.
	cl := newTestClient(t, p.kafkaAddr, kgo.ConsumeTopics("crash"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	counts := make([]int, n)
	got := 0
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for got < n {
		fs := cl.PollFetches(cctx)
		if cctx.Err() != nil {
			t.Fatalf("consumed %d of %d records", got, n)
		}
		fs.EachRecord(func(r *kgo.Record) {
			i, err := strconv.Atoi(string(r.Value))
			if err != nil || i < 0 || i >= n {
				t.Fatalf("unexpected record %q", r.Value)
			}
			counts[i]++
			got++
		})
	}
	if total := topicRecords(t, p.kafkaAddr, "crash"); total != int64(n) {
		t.Errorf("the topic holds %d records for %d messages", total, n)
	}
	for i, c := range counts {
		if c != 1 {
			t.Errorf("message %d is in the topic %d times", i, c)
		}
	}

	// The restarted node reports the route on its HTTP listener.
	report := bridgeStatus(t, p.httpA)
	if len(report.Routes) == 1 {
		t.Logf("after the restart: %d written, %d redeliveries of messages written before the kill skipped",
			report.Routes[0].Written, report.Routes[0].Deduplicated)
	}
	if len(report.Routes) != 1 || report.Routes[0].Name != "crash" || !report.Routes[0].Connected ||
		report.Routes[0].Written+report.Routes[0].Deduplicated == 0 {
		t.Errorf("bridge status after the restart: %+v", report)
	}
	if m := metricsText(t, p.httpA); !strings.Contains(m, `weir_bridge_nats_written_total{route="crash"}`) ||
		!strings.Contains(m, `weir_bridge_nats_lag{route="crash"}`) {
		t.Errorf("the node's /metrics lacks the route's metrics")
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, p.stderr.String())
	}
}

// metricsText returns what GET /metrics answers at addr.
func metricsText(t *testing.T, addr string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %s %v", resp.Status, err)
	}
	return string(body)
}

func newTestClient(t *testing.T, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// TestBridgeNATSStandalone runs `weir bridge nats` against a Kafka-compatible
// cluster that is not Weir (franz-go's kfake, or $WEIR_TEST_BROKERS), and
// reads its status with `weir bridge status` from its own HTTP listener.
func TestBridgeNATSStandalone(t *testing.T) {
	seeds, _ := testCluster(t)
	ns := startNATSServer(t)
	nc, js := natsJetStream(t, ns.ClientURL())
	ctx := context.Background()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "SA", Subjects: []string{"sa.>"}}); err != nil {
		t.Fatal(err)
	}
	jsTopic, coreTopic := uniqueTopic(t, "sa-js"), uniqueTopic(t, "sa-core")
	cfgPath := filepath.Join(t.TempDir(), "bridge.toml")
	cfg := fmt.Sprintf(`[[bridge.nats]]
name    = "js"
url     = %[1]q
stream  = "SA"
durable = "weir"
topic   = %[2]q
key     = "token:2"

[[bridge.nats]]
name    = "core"
url     = %[1]q
subject = "core.>"
topic   = %[3]q
`, ns.ClientURL(), jsTopic, coreTopic)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}

	runCtx, stop := context.WithCancel(ctx)
	root := newRootCommand()
	stderr := &syncBuffer{}
	root.SetOut(&bytes.Buffer{})
	root.SetErr(stderr)
	root.SetArgs([]string{"bridge", "nats", "--config", cfgPath, "--brokers", seeds, "--http-addr", "127.0.0.1:0"})
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(runCtx) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("weir bridge nats: %v\n%s", err, stderr.String())
		}
	}()
	var httpAddr string
	eventually(t, func() string {
		if m := httpAddrRE.FindStringSubmatch(stderr.String()); m != nil {
			httpAddr = m[1]
			return ""
		}
		return "no start-up line:\n" + stderr.String()
	})
	eventually(t, func() string {
		r := bridgeStatus(t, httpAddr)
		if len(r.Routes) == 2 && r.Routes[0].Ready && r.Routes[1].Ready {
			return ""
		}
		return fmt.Sprintf("routes not ready: %+v", r.Routes)
	})

	const n = 200
	for i := range n {
		if _, err := js.Publish(ctx, "sa.k"+strconv.Itoa(i%5), []byte(strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
		if err := nc.Publish("core.x", []byte(strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() string {
		r := bridgeStatus(t, httpAddr)
		if r.Routes[0].Acked == n && r.Routes[1].Written == n {
			return ""
		}
		return fmt.Sprintf("status: %+v", r.Routes)
	})
	lines := map[string]bool{}
	for line := range strings.Lines(mustWeir(t, seeds, "", "consume", jsTopic, "--from", "earliest", "--count", strconv.Itoa(n), "--format", "kv")) {
		lines[line] = true
	}
	for i := range n {
		if want := fmt.Sprintf("k%d\t%d\n", i%5, i); !lines[want] {
			t.Fatalf("the JetStream topic lacks key k%d, value %d (%d distinct records)", i%5, i, len(lines))
		}
	}
	if got := mustWeir(t, seeds, "", "consume", coreTopic, "--from", "earliest", "--count", strconv.Itoa(n)); strings.Count(got, "\n") != n {
		t.Errorf("the core topic holds %d records", strings.Count(got, "\n"))
	}

	if m := metricsText(t, httpAddr); !strings.Contains(m, fmt.Sprintf(`weir_bridge_nats_written_total{route="core"} %d`, n)) ||
		!strings.Contains(m, fmt.Sprintf(`weir_bridge_nats_acked_total{route="js"} %d`, n)) {
		t.Errorf("the standalone bridge's /metrics lacks the routes' counts")
	}

	// The table form names both routes.
	root2 := newRootCommand()
	var table bytes.Buffer
	root2.SetOut(&table)
	root2.SetArgs([]string{"bridge", "status", "--http", httpAddr})
	if err := root2.ExecuteContext(ctx); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ROUTE", "stream SA (durable weir)", "subject core.>", jsTopic, strconv.Itoa(n)} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("status table lacks %q:\n%s", want, table.String())
		}
	}
}

// TestBridgeNATSRejectsBadRoutes: a route that cannot work stops `weir
// bridge nats` (and `weir serve`) with a message naming it and its line.
func TestBridgeNATSRejectsBadRoutes(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.toml")
	if err := os.WriteFile(bad, []byte("[[bridge.nats]]\nsubject = \"a\"\ntopic = \"t\"\n\n[[bridge.nats]]\nsubject = \"a.b\"\ntopic = \"t\"\nkey = \"tokn:2\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := runWeir(t, "127.0.0.1:1", "", "bridge", "nats", "--config", bad)
	wantError(t, r, bad+`:8: [[bridge.nats]] #2 key = "tokn:2": unknown key source "tokn"`)

	empty := filepath.Join(dir, "empty.toml")
	if err := os.WriteFile(empty, []byte("node_id = 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	wantError(t, runWeir(t, "127.0.0.1:1", "", "bridge", "nats", "--config", empty), "has no [[bridge.nats]] routes")
	r = runWeir(t, "127.0.0.1:1", "", "bridge", "nats")
	wantError(t, r, "--config is required")
	if !strings.Contains(r.stderr, "Usage:") {
		t.Errorf("no usage printed:\n%s", r.stderr)
	}

	// weir serve refuses the same file before touching its data directory.
	root := newRootCommand()
	root.SetOut(&bytes.Buffer{})
	root.SetErr(&bytes.Buffer{})
	root.SetArgs([]string{"serve", "--config", bad, "--data-dir", filepath.Join(dir, "data")})
	if err := root.ExecuteContext(t.Context()); err == nil || !strings.Contains(err.Error(), `:8: [[bridge.nats]] #2 key = "tokn:2"`) {
		t.Errorf("weir serve with a bad route: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "data")); !os.IsNotExist(err) {
		t.Error("weir serve created its data directory despite the bad route")
	}
}

// TestBridgeStatusWithoutBridge: a node without routes answers with none,
// and an address that is not a Weir HTTP listener is an error.
func TestBridgeStatusWithoutBridge(t *testing.T) {
	bin := buildWeir(t)
	p := startWeirServe(t, bin, "--data-dir", filepath.Join(t.TempDir(), "data"), "--kafka-addr", "127.0.0.1:0",
		"--controller-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0")
	if r := bridgeStatus(t, p.httpA); len(r.Routes) != 0 {
		t.Errorf("routes = %+v", r.Routes)
	}
	root := newRootCommand()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&bytes.Buffer{})
	root.SetArgs([]string{"bridge", "status", "--http", p.httpA})
	if err := root.ExecuteContext(t.Context()); err != nil || out.String() != "no bridge routes\n" {
		t.Errorf("table for no routes: %q, %v", out.String(), err)
	}
	root = newRootCommand()
	root.SetOut(&bytes.Buffer{})
	root.SetErr(&bytes.Buffer{})
	root.SetArgs([]string{"bridge", "status", "--http", "127.0.0.1:1", "--timeout", "2s"})
	if err := root.ExecuteContext(t.Context()); err == nil || !strings.Contains(err.Error(), "cannot reach 127.0.0.1:1") {
		t.Errorf("unreachable listener: %v", err)
	}
}

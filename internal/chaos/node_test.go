package chaos

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// weirBin is the weir binary the tests run, built once per test process.
var weirBin struct {
	once sync.Once
	dir  string
	path string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if weirBin.dir != "" {
		os.RemoveAll(weirBin.dir)
	}
	os.Exit(code)
}

// weirBinary returns the weir binary: $WEIR_CHAOS_BINARY when set (to run
// the harness against a given build), else one built from this tree.
func weirBinary(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("WEIR_CHAOS_BINARY"); bin != "" {
		return bin
	}
	weirBin.once.Do(func() {
		if weirBin.dir, weirBin.err = os.MkdirTemp("", "weir-chaos-bin-"); weirBin.err != nil {
			return
		}
		weirBin.path = filepath.Join(weirBin.dir, "weir")
		out, err := exec.Command("go", "build", "-o", weirBin.path, "github.com/weirmq/weir/cmd/weir").CombinedOutput()
		if err != nil {
			weirBin.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if weirBin.err != nil {
		t.Fatal(weirBin.err)
	}
	return weirBin.path
}

func produceSync(t *testing.T, seeds []string, topic string, partitions int32, from, n int64) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var recs []*kgo.Record
	for s := from; s < from+n; s++ {
		recs = append(recs, &kgo.Record{Topic: topic, Partition: int32(s % int64(partitions)), Value: Value(s, 50)})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// TestNodeProcessControl drives one real `weir serve` through every
// transition the harness uses: start, pause, resume, SIGKILL, restart on
// the same ports and data, clean stop; and reads its segment files.
func TestNodeProcessControl(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	c, err := StartCluster(ctx, ClusterOptions{Binary: weirBinary(t), Dir: dir, Nodes: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	n := c.Node(1)
	if n.State() != NodeRunning || n.PID() == 0 || n.Runs() != 1 {
		t.Fatalf("after start: %v pid %d runs %d", n.State(), n.PID(), n.Runs())
	}
	cfg, err := n.Config()
	if err != nil || !strings.Contains(cfg, `voters = ["1@`+n.ControllerAddr+`"]`) || !strings.Contains(cfg, `"min.insync.replicas" = 1`) {
		t.Fatalf("config:\n%s (%v)", cfg, err)
	}
	if c.Mesh() != nil {
		t.Fatal("a one-node cluster has no proxies")
	}

	probe := NewProbe(c.Seeds())
	defer probe.Close()
	if err := probe.CreateTopic(ctx, "pc", 2, 1, map[string]string{"segment.bytes": "1048576"}); err != nil {
		t.Fatal(err)
	}
	produceSync(t, c.Seeds(), "pc", 2, 0, 100)

	if err := n.Pause(); err != nil {
		t.Fatal(err)
	}
	if _, err := probe.Metadata(ctx, n.KafkaAddr, "pc"); err == nil {
		t.Fatal("a paused broker answered metadata")
	}
	if err := n.Pause(); err == nil {
		t.Fatal("pausing a paused node succeeded")
	}
	if err := n.Resume(); err != nil {
		t.Fatal(err)
	}
	st, err := probe.Metadata(ctx, n.KafkaAddr, "pc")
	if err != nil {
		t.Fatalf("after resume: %v", err)
	}
	if ok, why := Healthy(st, 2, 1, map[int32]bool{1: true}); !ok {
		t.Fatalf("after resume: %s", why)
	}

	if err := n.Kill(); err != nil {
		t.Fatal(err)
	}
	if n.State() != NodeDown || n.PID() != 0 {
		t.Fatalf("after kill: %v pid %d", n.State(), n.PID())
	}
	if err := n.Kill(); err == nil {
		t.Fatal("killing a dead node succeeded")
	}
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := n.Start(sctx); err != nil {
		t.Fatal(err)
	}
	if n.Runs() != 2 || !strings.Contains(n.LogTail(1<<20), "node 1 run 2") || !strings.Contains(n.LogTail(1<<20), "clean_shutdown=false") {
		t.Fatalf("second run not logged as an unclean start:\n%s", n.LogTail(4096))
	}
	produceSync(t, c.Seeds(), "pc", 2, 100, 100)
	hw, err := probe.HighWatermarks(ctx, "pc")
	if err != nil || hw[0] != 100 || hw[1] != 100 {
		t.Fatalf("high watermarks after kill and restart: %v %v", hw, err)
	}

	if err := n.Stop(sctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(n.DataDir, ".clean-shutdown")); err != nil {
		t.Fatalf("no clean-shutdown marker after Stop: %v", err)
	}
	for p := range int32(2) {
		bs, err := ReadReplicaLog(PartitionDir(n.DataDir, "pc", p), p)
		if err != nil {
			t.Fatal(err)
		}
		cmp := CompareReplicas(p, 100, map[int32][]Batch{1: bs})
		if len(cmp.Problems) != 0 || len(cmp.Records) != 100 {
			t.Fatalf("partition %d on disk: %d records, %v", p, len(cmp.Records), cmp.Problems)
		}
		for i, r := range cmp.Records {
			if want := int64(2*i) + int64(p); r.Seq != want {
				t.Fatalf("partition %d offset %d holds seq %d, want %d", p, i, r.Seq, want)
			}
		}
	}
	if err := n.Resume(); err == nil {
		t.Fatal("resuming a stopped node succeeded")
	}
}

// TestNodeStartFailureShowsTheLog: a broker that cannot start (its
// config is refused) fails Start with its own words.
func TestNodeStartFailureShowsTheLog(t *testing.T) {
	_, err := StartCluster(context.Background(), ClusterOptions{
		Binary: weirBinary(t), Dir: t.TempDir(), Nodes: 1,
		Broker: map[string]any{"min.insync.replicas": 0},
	})
	if err == nil || !strings.Contains(err.Error(), "exited before serving") || !strings.Contains(err.Error(), "min.insync.replicas") {
		t.Fatalf("want the broker's refusal naming the key, got %v", err)
	}
}

// TestRunOnOneNode runs the whole harness — workload, kill, pause and
// restart faults, settling, reading back, the disk comparison, the
// verifier and the report — against a single real broker, where every
// acknowledged record must survive too (RF 1: a SIGKILL keeps the page
// cache).
func TestRunOnOneNode(t *testing.T) {
	dir := t.TempDir()
	rep, err := Run(context.Background(), Scenario{
		Binary: weirBinary(t), Dir: dir, Nodes: 1, Partitions: 3, Rate: 1000, Seed: 1,
		Plan: []FaultKind{FaultKill, FaultPause, FaultRestart},
		Logf: t.Logf,
	})
	if rep != nil {
		t.Logf("\n%s", rep)
	}
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() {
		t.Fatalf("problems: %v", rep.Problems)
	}
	if len(rep.Faults) != 3 || rep.Acked < 200 || rep.Verification.Acked != rep.Acked || rep.Verification.Final < rep.Acked {
		t.Fatalf("faults %d, acked %d, verified %+v", len(rep.Faults), rep.Acked, rep.Verification)
	}
	for _, c := range rep.Consumers {
		if c.Seen < rep.Acked {
			t.Errorf("%s saw %d records of %d acknowledged", c.Name, c.Seen, rep.Acked)
		}
	}
	if s := rep.String(); !strings.Contains(s, "lost:                 0") || !strings.Contains(s, "kill 1, pause 1, cut 0, restart 1") {
		t.Errorf("report:\n%s", s)
	}
}

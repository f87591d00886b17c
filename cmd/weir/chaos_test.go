package main

// The chaos tests: three real `weir serve` processes on loopback ports,
// hurt by internal/chaos while clients keep working.
//
// TestChaos is the short form `make test` runs: a few faults of each kind
// (SIGKILL of a leader, SIGSTOP, a leader cut off from the other brokers,
// a clean restart) under an idempotent acks=all producer, then every
// invariant checked and the report logged (go test -v shows it). `make
// chaos` runs the long form. Environment:
//
//	WEIR_CHAOS_DURATION  inject random faults for this long (e.g. 5m)
//	                     instead of the short plan
//	WEIR_CHAOS_PER_KIND  faults of each kind in the short plan (default 2)
//	WEIR_CHAOS_FAULTS    kinds to inject (default kill,pause,cut,restart)
//	WEIR_CHAOS_SEED      the schedule's seed (default: from the clock; the
//	                     report prints it, so a failure can be replayed)
//	WEIR_CHAOS_RATE      records per second (default 1000)
//	WEIR_CHAOS_SESSION_MS broker.session.timeout.ms (default: 2000 in the
//	                     short form, to keep it quick; the cluster
//	                     contract's 3000 in the long form); the heartbeat
//	                     is a sixth of it, replica lag equal to it
//	WEIR_CHAOS_KEEP      keep the cluster's directory (logs, data) even
//	                     when the test passes; it is always kept on failure
//	WEIR_CHAOS_BINARY    run this weir binary instead of building one
//
// TestClientsFollowLeaderChange checks that franz-go, sarama and kcat,
// each started once, keep producing and consuming across a leader change.

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirmq/weir/internal/chaos"
)

// chaosEnvInt returns the integer in environment variable name, or def
// when it is unset. A value that does not parse fails the test naming
// the variable.
func chaosEnvInt(t *testing.T, name string, def int) int {
	t.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		t.Fatalf("%s=%q: want a non-negative integer", name, s)
	}
	return n
}

// chaosBinary returns $WEIR_CHAOS_BINARY, or a weir built from this tree
// once per test process and shared with the benchmarks (bench_test.go's
// benchBin; its TestMain removes it).
func chaosBinary(tb testing.TB) string {
	tb.Helper()
	if bin := os.Getenv("WEIR_CHAOS_BINARY"); bin != "" {
		return bin
	}
	benchBin.once.Do(func() {
		if benchBin.dir, benchBin.err = os.MkdirTemp("", "weir-bench-bin-"); benchBin.err != nil {
			return
		}
		benchBin.path = filepath.Join(benchBin.dir, "weir")
		if out, err := exec.Command("go", "build", "-o", benchBin.path, ".").CombinedOutput(); err != nil {
			benchBin.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if benchBin.err != nil {
		tb.Fatal(benchBin.err)
	}
	return benchBin.path
}

// chaosDir makes the cluster's directory. It is removed when the test
// passes (unless WEIR_CHAOS_KEEP is set) and kept, with every broker's
// log, when it fails.
func chaosDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "weir-chaos-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() || os.Getenv("WEIR_CHAOS_KEEP") != "" {
			t.Logf("cluster directory kept: %s (brokers' logs in n*/weir.log)", dir)
			return
		}
		os.RemoveAll(dir)
	})
	return dir
}

// chaosBroker returns the [broker] settings: the cluster contract's, with
// the session timeout from WEIR_CHAOS_SESSION_MS, else def.
func chaosBroker(t *testing.T, def int) map[string]any {
	session := chaosEnvInt(t, "WEIR_CHAOS_SESSION_MS", def)
	return map[string]any{
		"broker.session.timeout.ms":    session,
		"broker.heartbeat.interval.ms": max(session/6, 50),
		"replica.lag.time.max.ms":      session,
	}
}

func TestChaos(t *testing.T) {
	bin := chaosBinary(t)
	dir := chaosDir(t)
	kinds := chaos.AllFaultKinds
	if s := os.Getenv("WEIR_CHAOS_FAULTS"); s != "" {
		var err error
		if kinds, err = chaos.ParseFaultKinds(s); err != nil || len(kinds) == 0 {
			t.Fatalf("WEIR_CHAOS_FAULTS: %v", err)
		}
	}
	var duration time.Duration
	if s := os.Getenv("WEIR_CHAOS_DURATION"); s != "" {
		var err error
		if duration, err = time.ParseDuration(s); err != nil {
			t.Fatalf("WEIR_CHAOS_DURATION: %v", err)
		}
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("WEIR_CHAOS_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("WEIR_CHAOS_SEED: %v", err)
		}
	}
	perKind := chaosEnvInt(t, "WEIR_CHAOS_PER_KIND", 2)
	var plan []chaos.FaultKind
	if duration == 0 {
		plan = chaos.Plan(kinds, perKind, rand.New(rand.NewPCG(seed, 1)))
	}

	ctx, cancel := context.WithTimeout(context.Background(), duration+10*time.Minute)
	defer cancel()
	rep, err := chaos.Run(ctx, chaos.Scenario{
		Binary: bin, Dir: dir, Nodes: 3, Partitions: 6,
		Rate: chaosEnvInt(t, "WEIR_CHAOS_RATE", 1000),
		Plan: plan, Duration: duration, Kinds: kinds, Seed: seed,
		Broker: chaosBroker(t, map[bool]int{true: 2000, false: 3000}[duration == 0]), Logf: t.Logf,
	})
	if rep != nil {
		t.Logf("\n%s", rep)
	}
	if err != nil {
		t.Fatalf("the chaos run could not complete: %v", err)
	}
	if !rep.OK() {
		t.Fatalf("%d problems (seed %d): first: %s", len(rep.Problems), seed, rep.Problems[0])
	}
	// The run did what it claims: faults of each kind, leaders moved,
	// records acknowledged through it all and every one verified.
	byKind := rep.FaultsByKind()
	for _, k := range kinds {
		if duration == 0 && byKind[k] != perKind {
			t.Errorf("%d %s faults injected, want %d", byKind[k], k, perKind)
		}
	}
	if len(rep.LeaderTimes()) == 0 {
		t.Error("no leader change was measured")
	}
	if rep.Acked == 0 || rep.Verification.Acked != rep.Acked || rep.Verification.Lost != 0 || rep.Verification.Duplicated != 0 {
		t.Errorf("acked %d, verification %+v", rep.Acked, rep.Verification)
	}
}

// kcatProc is a kcat process whose stdout lines are collected.
type kcatProc struct {
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	done    chan struct{} // closed when stdout is drained
	written int           // bytes written to stdin
	mu      sync.Mutex
	lines   map[string]bool
	err     strings.Builder
}

func startKcat(t *testing.T, args ...string) *kcatProc {
	t.Helper()
	bin, err := exec.LookPath("kcat")
	if err != nil {
		t.Fatal("kcat not found: scripts/deps.sh installs it")
	}
	k := &kcatProc{cmd: exec.Command(bin, args...), done: make(chan struct{}), lines: map[string]bool{}}
	if k.stdin, err = k.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	out, err := k.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	k.cmd.Stderr = &lockedWriter{mu: &k.mu, w: &k.err}
	if err := k.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(k.done)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			k.mu.Lock()
			k.lines[sc.Text()] = true
			k.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		k.cmd.Process.Kill()
		<-k.done
		k.cmd.Wait()
	})
	return k
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// kcatBlock is how kcat -P reads stdin: in blocks of 4 KiB, producing
// the lines of a block once it is full (or at EOF).
const kcatBlock = 4096

// write sends lines (each ending in a newline) to kcat -P's stdin, then
// one filler line that ends exactly at a block boundary, so that kcat
// produces every line now rather than at EOF. The filler is produced too;
// it is not a workload value.
func (k *kcatProc) write(lines string) error {
	k.written += len(lines)
	pad := kcatBlock - k.written%kcatBlock
	if pad < 2 {
		pad += kcatBlock
	}
	filler := "kcat-block-filler-" + strings.Repeat("x", kcatBlock)
	lines += filler[:pad-1] + "\n"
	k.written += pad
	_, err := io.WriteString(k.stdin, lines)
	return err
}

func (k *kcatProc) has(v string) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.lines[v]
}

func (k *kcatProc) stderr() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.err.String()
}

// TestClientsFollowLeaderChange starts franz-go, sarama and kcat clients
// once (a producer and a consumer each), kills the partition's leader
// with SIGKILL, and checks that every client keeps producing and
// consuming through the new leader without being restarted, and that
// every live broker then reports the same new leader.
func TestClientsFollowLeaderChange(t *testing.T) {
	bin := chaosBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, err := chaos.StartCluster(ctx, chaos.ClusterOptions{Binary: bin, Dir: chaosDir(t), Nodes: 3, Broker: chaosBroker(t, 2000)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	probe := chaos.NewProbe(c.Seeds())
	defer probe.Close()
	const topic = "follow"
	if err := probe.CreateTopic(ctx, topic, 1, 3, map[string]string{"min.insync.replicas": "2"}); err != nil {
		t.Fatal(err)
	}
	in := &chaos.Injector{Cluster: c, Probe: probe, Topic: topic, Partitions: 1, RF: 3}
	if err := in.WaitHealthy(ctx, 60*time.Second); err != nil {
		t.Fatal(err)
	}
	seeds := strings.Join(c.Seeds(), ",")

	// The clients, each started once.
	franzP, err := kgo.NewClient(kgo.SeedBrokers(c.Seeds()...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer franzP.Close()
	saramaP, err := sarama.NewSyncProducer(c.Seeds(), chaos.SaramaConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer saramaP.Close()
	kcatP := startKcat(t, "-b", seeds, "-P", "-t", topic, "-p", "0",
		"-X", "acks=all", "-X", "enable.idempotence=true", "-X", "linger.ms=5")
	franzC, err := chaos.StartFranzConsumer(c.Seeds(), topic, 1)
	if err != nil {
		t.Fatal(err)
	}
	saramaC, err := chaos.StartSaramaConsumer(c.Seeds(), topic, 1)
	if err != nil {
		franzC.Stop()
		t.Fatal(err)
	}
	kcatC := startKcat(t, "-b", seeds, "-C", "-t", topic, "-p", "0", "-o", "beginning", "-u", "-f", "%s\n")

	// Each producer gets its own sequence range; phase 2 is after the
	// leader change.
	var want []int64
	produce := func(phase int) {
		t.Helper()
		var recs []*kgo.Record
		var msgs []*sarama.ProducerMessage
		var lines strings.Builder
		for i := range 20 {
			f, s, k := int64(phase*100+i), int64(1000+phase*100+i), int64(2000+phase*100+i)
			want = append(want, f, s, k)
			recs = append(recs, &kgo.Record{Topic: topic, Partition: 0, Value: chaos.Value(f, 40)})
			msgs = append(msgs, &sarama.ProducerMessage{Topic: topic, Partition: 0, Value: sarama.ByteEncoder(chaos.Value(s, 40))})
			fmt.Fprintf(&lines, "%s\n", chaos.Value(k, 40))
		}
		pctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		if err := franzP.ProduceSync(pctx, recs...).FirstErr(); err != nil {
			t.Fatalf("phase %d: franz-go producer: %v", phase, err)
		}
		if err := saramaP.SendMessages(msgs); err != nil {
			t.Fatalf("phase %d: sarama producer: %v", phase, err)
		}
		if err := kcatP.write(lines.String()); err != nil {
			t.Fatalf("phase %d: kcat producer: %v\n%s", phase, err, kcatP.stderr())
		}
	}
	// waitSeen waits until every consumer has been served every value in
	// want.
	waitSeen := func(phase int) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for {
			var missing []string
			for _, s := range want {
				if !kcatC.has(string(chaos.Value(s, 40))) {
					missing = append(missing, fmt.Sprintf("kcat:%d", s))
				}
			}
			hw, err := probe.HighWatermarks(ctx, topic)
			if err == nil && len(missing) == 0 {
				wctx, cancel := context.WithTimeout(ctx, time.Until(deadline))
				err = firstErr(franzC.WaitCaughtUp(wctx, hw), saramaC.WaitCaughtUp(wctx, hw))
				cancel()
				if err == nil {
					return
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("phase %d: consumers incomplete: kcat missing %v; %v\nkcat -C stderr:\n%s\nkcat -P stderr:\n%s",
					phase, missing, err, kcatC.stderr(), kcatP.stderr())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	produce(1)
	waitSeen(1)

	st, err := probe.Metadata(ctx, c.Nodes()[0].KafkaAddr, topic)
	if err != nil {
		t.Fatal(err)
	}
	old := st[0].Leader
	start := time.Now()
	if err := c.Node(old).Kill(); err != nil {
		t.Fatal(err)
	}
	took, err := in.WaitNewLeader(ctx, old, []int32{0}, start)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("leader %d killed; a new leader after %v", old, took)

	produce(2)
	if err := kcatP.stdin.Close(); err != nil { // kcat flushes and exits at EOF
		t.Fatal(err)
	}
	waitSeen(2)
	if err := kcatP.cmd.Wait(); err != nil {
		t.Fatalf("kcat -P exited with %v:\n%s", err, kcatP.stderr())
	}

	// The franz-go and sarama consumers were served every value produced
	// (kcat's were checked by waitSeen).
	for _, res := range []chaos.ConsumerResult{franzC.Stop(), saramaC.Stop()} {
		got := map[int64]bool{}
		for _, r := range res.Seen {
			got[r.Seq] = true
		}
		for _, s := range want {
			if !got[s] {
				t.Errorf("%s consumer never saw seq %d", res.Name, s)
			}
		}
	}

	// Every live broker agrees on the new leader and its epoch.
	var leaders []string
	for _, n := range c.Nodes() {
		if n.ID == old {
			continue
		}
		st, err := probe.Metadata(ctx, n.KafkaAddr, topic)
		if err != nil {
			t.Fatal(err)
		}
		leaders = append(leaders, fmt.Sprintf("leader=%d epoch=%d", st[0].Leader, st[0].LeaderEpoch))
		if st[0].Leader == old || st[0].Leader < 0 {
			t.Errorf("node %d still reports leader %d", n.ID, st[0].Leader)
		}
	}
	if leaders[0] != leaders[1] {
		t.Errorf("live brokers disagree: %v", leaders)
	}
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

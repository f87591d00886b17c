package chaos

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"
)

// Scenario is one chaos run: a cluster, a workload, a fault schedule.
type Scenario struct {
	Binary     string // the weir binary; required
	Dir        string // where the cluster lives; required, kept for the caller
	Nodes      int    // brokers (default 3)
	Partitions int32  // partitions of the workload's topic (default 6)
	Topic      string // default "chaos"
	Rate       int    // records per second (default 1000)
	ValueSize  int    // bytes per value (default 100)

	// Plan is the faults to inject, in order. When Duration > 0, random
	// faults of Kinds (default AllFaultKinds) are injected until it has
	// passed instead.
	Plan     []FaultKind
	Duration time.Duration
	Kinds    []FaultKind

	Seed   uint64         // for the fault schedule; printed in the report
	Broker map[string]any // [broker] settings over DefaultBrokerSettings
	Logf   func(format string, args ...any)
}

// Report is what a chaos run found. Problems lists every violated
// invariant and every fault the cluster did not recover from.
type Report struct {
	Seed       uint64
	Nodes      int
	Partitions int32
	RF         int
	MinISR     int
	Elapsed    time.Duration

	Faults       []Fault
	Produced     int64
	Acked        int
	Failed       map[string]int // records the producer gave up on, by error
	Unsettled    int64
	Consumers    []ConsumerSummary
	Verification Verification
	Replicas     []ReplicaComparison // without their Records
	Problems     []string
}

// ConsumerSummary is what one consumer saw, counted.
type ConsumerSummary struct {
	Name   string
	Seen   int
	Errors map[string]int
}

// OK reports whether the run found no problem.
func (r *Report) OK() bool { return len(r.Problems) == 0 }

func (r *Report) problem(format string, args ...any) {
	r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
}

// FaultsByKind counts the faults injected by kind.
func (r *Report) FaultsByKind() map[FaultKind]int {
	out := map[FaultKind]int{}
	for _, f := range r.Faults {
		out[f.Kind]++
	}
	return out
}

// LeaderTimes returns the time to a new leader of every fault of the
// given kinds (all kinds when none are given) that moved leadership.
func (r *Report) LeaderTimes(kinds ...FaultKind) []time.Duration {
	var out []time.Duration
	for _, f := range r.Faults {
		if f.LeaderMoved && (len(kinds) == 0 || slices.Contains(kinds, f.Kind)) {
			out = append(out, f.NewLeader)
		}
	}
	return out
}

// Run runs the scenario: it starts the cluster (proxied when it has more
// than one broker), creates the topic, starts the producer and the
// franz-go and sarama consumers, injects the faults, recovers, lets
// everything settle, reads everything back, stops the cluster, compares
// the replicas on disk and verifies. Invariant violations are Problems in
// the report; an error means the run could not get far enough to say
// (the cluster did not start, the topic could not be created, nothing
// was acknowledged), and comes with the report so far.
func Run(ctx context.Context, s Scenario) (*Report, error) {
	if s.Nodes == 0 {
		s.Nodes = 3
	}
	if s.Partitions == 0 {
		s.Partitions = 6
	}
	if s.Topic == "" {
		s.Topic = "chaos"
	}
	if s.Rate == 0 {
		s.Rate = 1000
	}
	if len(s.Kinds) == 0 {
		s.Kinds = AllFaultKinds
	}
	logf := s.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	settings := DefaultBrokerSettings(s.Nodes)
	for k, v := range s.Broker {
		settings[k] = v
	}
	rf, err := intSetting(settings, "default.replication.factor")
	if err != nil {
		return nil, err
	}
	minISR, err := intSetting(settings, "min.insync.replicas")
	if err != nil {
		return nil, err
	}
	rep := &Report{Seed: s.Seed, Nodes: s.Nodes, Partitions: s.Partitions, RF: rf, MinISR: minISR}
	start := time.Now()
	defer func() { rep.Elapsed = time.Since(start) }()

	c, err := StartCluster(ctx, ClusterOptions{Binary: s.Binary, Dir: s.Dir, Nodes: s.Nodes, Broker: s.Broker, Proxied: s.Nodes > 1})
	if err != nil {
		return rep, err
	}
	defer c.Close()
	logf("chaos: %d brokers up in %s (seed %d)", s.Nodes, s.Dir, s.Seed)
	probe := NewProbe(c.Seeds())
	defer probe.Close()

	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	err = probe.CreateTopic(cctx, s.Topic, s.Partitions, int16(rf), map[string]string{
		"min.insync.replicas": strconv.Itoa(minISR),
		"segment.bytes":       strconv.Itoa(1 << 20), // several segments per replica, rolled at different moments
	})
	cancel()
	if err != nil {
		return rep, err
	}
	lag, err := intSetting(settings, "replica.lag.time.max.ms")
	if err != nil {
		return rep, err
	}
	in := &Injector{Cluster: c, Probe: probe, Topic: s.Topic, Partitions: s.Partitions, RF: rf,
		Rand: rand.New(rand.NewPCG(s.Seed, s.Seed^0x9e3779b97f4a7c15)), Logf: logf,
		FollowerPause: time.Duration(lag+1000) * time.Millisecond}
	if err := in.WaitHealthy(ctx, 60*time.Second); err != nil {
		return rep, fmt.Errorf("topic %s never became healthy: %w", s.Topic, err)
	}

	prod, err := StartProducer(ProducerOptions{Seeds: c.Seeds(), Topic: s.Topic, Partitions: s.Partitions, Rate: s.Rate, ValueSize: s.ValueSize})
	if err != nil {
		return rep, err
	}
	var consumers []*Consumer
	stopProducer := func() ProducerResult {
		sctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		return prod.Stop(sctx)
	}
	franz, err := StartFranzConsumer(c.Seeds(), s.Topic, s.Partitions)
	if err != nil {
		stopProducer()
		return rep, err
	}
	consumers = append(consumers, franz)
	sar, err := StartSaramaConsumer(c.Seeds(), s.Topic, s.Partitions)
	if err != nil {
		stopProducer()
		franz.Stop()
		return rep, err
	}
	consumers = append(consumers, sar)
	stopConsumers := func() []ConsumerResult {
		var out []ConsumerResult
		for _, cons := range consumers {
			out = append(out, cons.Stop())
		}
		consumers = nil
		return out
	}
	defer stopConsumers()

	if err := waitAcked(ctx, prod, 100, 30*time.Second); err != nil {
		res := stopProducer()
		rep.Failed = res.Failed
		return rep, fmt.Errorf("the workload does not get going: %w (failures: %v)", err, res.Failed)
	}

	// The faults.
	if s.Duration > 0 {
		deadline := time.Now().Add(s.Duration)
		for time.Now().Before(deadline) && ctx.Err() == nil {
			k := s.Kinds[in.Rand.IntN(len(s.Kinds))]
			if !rep.inject(ctx, in, k) {
				break
			}
			sleepCtx(ctx, time.Duration(500+in.Rand.IntN(1000))*time.Millisecond)
		}
	} else {
		for _, k := range s.Plan {
			if ctx.Err() != nil || !rep.inject(ctx, in, k) {
				break
			}
			sleepCtx(ctx, time.Duration(500+in.Rand.IntN(1000))*time.Millisecond)
		}
	}

	// Heal, and check the cluster works again.
	if err := in.RecoverAll(ctx); err != nil {
		rep.problem("recovering after the faults: %v", err)
	}
	if err := in.WaitHealthy(ctx, 60*time.Second); err != nil {
		rep.problem("after the faults: %v", err)
	}
	if err := waitAcked(ctx, prod, prod.Acked()+100, 30*time.Second); err != nil {
		rep.problem("after healing, the producer makes no progress: %v", err)
	}

	pres := stopProducer()
	rep.Produced, rep.Acked, rep.Failed, rep.Unsettled = pres.Produced, len(pres.Acks), pres.Failed, pres.Unsettled
	if pres.FlushErr != nil {
		rep.problem("the producer could not flush after healing: %v (%d records unsettled)", pres.FlushErr, pres.Unsettled)
	}
	logf("chaos: producer stopped: %d produced, %d acknowledged, failed %v", pres.Produced, len(pres.Acks), pres.Failed)

	hw, err := settle(ctx, in)
	if err != nil {
		rep.problem("settling: %v", err)
		if hw == nil {
			return rep, err
		}
	}
	for _, cons := range consumers {
		wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		if err := cons.WaitCaughtUp(wctx, hw); err != nil {
			rep.problem("%v", err)
		}
		cancel()
	}
	seen := stopConsumers()
	for _, cr := range seen {
		rep.Consumers = append(rep.Consumers, ConsumerSummary{Name: cr.Name, Seen: len(cr.Seen), Errors: cr.Errors})
	}

	rctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	final, err := ReadAll(rctx, c.Seeds(), s.Topic, hw)
	cancel()
	if err != nil {
		rep.problem("reading back: %v", err)
	}

	sctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	if err := c.StopAll(sctx); err != nil {
		rep.problem("stopping the cluster: %v", err)
	}
	cancel()
	rep.compareReplicas(c, s.Topic, s.Partitions, hw, final)

	rep.Verification = Verify(pres.Acks, final, seen)
	v := rep.Verification
	for _, kind := range []string{"lost", "misplaced", "duplicated", "out-of-order", "gap", "phantom"} {
		for _, ex := range v.Examples[kind] {
			rep.problem("%s: %s", kind, ex)
		}
	}
	if !v.OK() && len(rep.Problems) == 0 {
		rep.problem("verification failed: %+v", v)
	}
	return rep, nil
}

// inject runs one fault and records it; it reports whether to go on
// (false once the cluster failed to heal: further faults would prove
// nothing).
func (r *Report) inject(ctx context.Context, in *Injector, k FaultKind) bool {
	f := in.Inject(ctx, k)
	r.Faults = append(r.Faults, f)
	if f.Err != nil {
		r.problem("fault %d (%v): %v", len(r.Faults), f.Kind, f.Err)
		return in.WaitHealthy(ctx, time.Second) == nil
	}
	return true
}

// compareReplicas reads each partition's replicas from disk, compares
// them up to the high watermark, and checks the disk against what was
// read back through Kafka.
func (r *Report) compareReplicas(c *Cluster, topic string, partitions int32, hw map[int32]int64, final map[int32][]Record) {
	for p := range partitions {
		logs := map[int32][]Batch{}
		for _, n := range c.Nodes() {
			bs, err := ReadReplicaLog(PartitionDir(n.DataDir, topic, p), p)
			if errors.Is(err, fs.ErrNotExist) {
				continue // not a replica of p
			}
			if err != nil {
				r.problem("partition %d node %d: reading the log: %v", p, n.ID, err)
				continue
			}
			logs[n.ID] = bs
		}
		if len(logs) != r.RF {
			r.problem("partition %d: %d replicas on disk, want %d", p, len(logs), r.RF)
		}
		cmp := CompareReplicas(p, hw[p], logs)
		for _, pr := range cmp.Problems {
			r.problem("replicas: %s", pr)
		}
		if final != nil {
			got := final[p]
			if len(got) != len(cmp.Records) {
				r.problem("partition %d: read back %d records below the high watermark %d, the disk holds %d", p, len(got), hw[p], len(cmp.Records))
			} else {
				for i := range got {
					if got[i].Offset != cmp.Records[i].Offset || got[i].Sum != cmp.Records[i].Sum {
						r.problem("partition %d: read back offset %d seq %d, the disk has offset %d seq %d", p, got[i].Offset, got[i].Seq, cmp.Records[i].Offset, cmp.Records[i].Seq)
						break
					}
				}
			}
		}
		cmp.Records = nil
		r.Replicas = append(r.Replicas, cmp)
	}
}

// waitAcked waits until the producer has at least n acknowledgements.
func waitAcked(ctx context.Context, p *Producer, n int, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for p.Acked() < n {
		if !sleepCtx(ctx, 20*time.Millisecond) {
			return fmt.Errorf("%d records acknowledged after %v, waiting for %d", p.Acked(), timeout, n)
		}
	}
	return nil
}

// settle waits until the cluster is healthy and the high watermarks stop
// moving (every follower has caught up; nothing is being produced), and
// returns them.
func settle(ctx context.Context, in *Injector) (map[int32]int64, error) {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	var prev map[int32]int64
	var lastErr error
	for {
		if err := in.WaitHealthy(ctx, 5*time.Second); err != nil {
			lastErr = err
		} else if hw, err := in.Probe.HighWatermarks(ctx, in.Topic); err != nil {
			lastErr = err
		} else if len(hw) == int(in.Partitions) && equalOffsets(hw, prev) {
			return hw, nil
		} else {
			prev = hw
		}
		if !sleepCtx(ctx, 500*time.Millisecond) {
			if prev != nil {
				return prev, fmt.Errorf("high watermarks did not settle: %v", lastErr)
			}
			return nil, fmt.Errorf("no high watermarks: %v", lastErr)
		}
	}
}

func equalOffsets(a, b map[int32]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// intSetting returns an integer [broker] setting.
func intSetting(settings map[string]any, name string) (int, error) {
	switch v := settings[name].(type) {
	case int:
		return v, nil
	case int32:
		return int(v), nil
	case int64:
		return int(v), nil
	}
	return 0, fmt.Errorf("chaos: broker setting %q is %T (%v), want an integer", name, settings[name], settings[name])
}

package chaos

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// FaultKind is a kind of fault the Injector knows how to cause.
type FaultKind int

// The fault kinds.
const (
	// FaultKill SIGKILLs the leader of a partition, waits for a new leader,
	// and starts the broker again.
	FaultKill FaultKind = iota
	// FaultPause SIGSTOPs a broker and SIGCONTs it later: either briefly
	// (below the session timeout: clients and followers just wait) or until
	// its partitions have new leaders.
	FaultPause
	// FaultCut cuts the leader of a partition off from the other brokers
	// (every proxy into and out of it; clients still reach it), waits for
	// a new leader, and heals.
	FaultCut
	// FaultRestart stops a broker cleanly (SIGTERM), waits for its
	// partitions to have new leaders, and starts it again.
	FaultRestart
)

// AllFaultKinds lists every fault kind.
var AllFaultKinds = []FaultKind{FaultKill, FaultPause, FaultCut, FaultRestart}

var faultNames = map[FaultKind]string{FaultKill: "kill", FaultPause: "pause", FaultCut: "cut", FaultRestart: "restart"}

func (k FaultKind) String() string {
	if s, ok := faultNames[k]; ok {
		return s
	}
	return fmt.Sprintf("FaultKind(%d)", int(k))
}

// ParseFaultKinds parses a comma-separated list of fault kind names
// ("kill,pause,cut,restart"). It returns an error naming an unknown one.
func ParseFaultKinds(s string) ([]FaultKind, error) {
	var out []FaultKind
	for _, name := range strings.Split(s, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		found := false
		for k, n := range faultNames {
			if n == name {
				out, found = append(out, k), true
			}
		}
		if !found {
			return nil, fmt.Errorf("unknown fault kind %q (known: kill, pause, cut, restart)", name)
		}
	}
	return out, nil
}

// Fault is one fault injected, and what followed.
type Fault struct {
	Kind     FaultKind
	Node     int32     // the broker it hit
	At       time.Time // when it was injected
	Affected []int32   // partitions the broker led when it was hit
	Short    bool      // a pause meant to end before the session timeout; no leader change awaited

	// NewLeader is the time from the fault until a surviving broker's
	// metadata showed a different, live leader for every affected
	// partition; set only when LeaderMoved.
	NewLeader   time.Duration
	LeaderMoved bool

	Held   time.Duration // from the fault until recovery began
	Healed time.Duration // from recovery until every partition had a live leader and a full ISR again
	Err    error         // what went wrong: no new leader in time, no healing in time, a process that would not start
}

func (f Fault) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s node %d", f.Kind, f.Node)
	if f.Short {
		b.WriteString(" (short)")
	}
	fmt.Fprintf(&b, " led %v", f.Affected)
	if f.LeaderMoved {
		fmt.Fprintf(&b, ", new leader after %v", f.NewLeader.Round(time.Millisecond))
	}
	fmt.Fprintf(&b, ", held %v, healed in %v", f.Held.Round(time.Millisecond), f.Healed.Round(time.Millisecond))
	if f.Err != nil {
		fmt.Fprintf(&b, ": ERROR %v", f.Err)
	}
	return b.String()
}

// Injector causes faults in a cluster and measures what follows: the
// time to a new leader and the time to heal.
//
// An Injector is used by one goroutine at a time.
type Injector struct {
	Cluster    *Cluster
	Probe      *Probe
	Topic      string
	Partitions int32
	RF         int
	Rand       *rand.Rand

	LeaderTimeout time.Duration // longest wait for a new leader (default 30s)
	HealTimeout   time.Duration // longest wait for a healthy cluster after recovery (default 60s)
	ShortPause    time.Duration // upper bound of a short pause (default 1.5s; keep it below the session timeout)
	// FollowerPause is how long a broker that leads nothing stays paused
	// (default 4s; above replica.lag.time.max.ms, so that it leaves the
	// ISR and must catch up to rejoin it).
	FollowerPause time.Duration
	Logf          func(format string, args ...any)
}

func (in *Injector) logf(format string, args ...any) {
	if in.Logf != nil {
		in.Logf(format, args...)
	}
}

func (in *Injector) defaults() {
	if in.LeaderTimeout == 0 {
		in.LeaderTimeout = 30 * time.Second
	}
	if in.HealTimeout == 0 {
		in.HealTimeout = 60 * time.Second
	}
	if in.ShortPause == 0 {
		in.ShortPause = 1500 * time.Millisecond
	}
	if in.FollowerPause == 0 {
		in.FollowerPause = 4 * time.Second
	}
	if in.Rand == nil {
		in.Rand = rand.New(rand.NewPCG(1, 2))
	}
}

// live returns the brokers that are running and not cut off, minus except.
func (in *Injector) live(except int32) map[int32]bool {
	isolated := map[int32]bool{}
	if m := in.Cluster.Mesh(); m != nil {
		for _, id := range m.Isolated() {
			isolated[id] = true
		}
	}
	out := map[int32]bool{}
	for _, n := range in.Cluster.Nodes() {
		if n.ID != except && n.State() == NodeRunning && !isolated[n.ID] {
			out[n.ID] = true
		}
	}
	return out
}

// metadataFromAny returns the topic's state from the first live broker
// that answers.
func (in *Injector) metadataFromAny(ctx context.Context) (TopicState, error) {
	var errs []error
	for _, n := range in.Cluster.Nodes() {
		if !in.live(-1)[n.ID] {
			continue
		}
		st, err := in.Probe.Metadata(ctx, n.KafkaAddr, in.Topic)
		if err == nil {
			return st, nil
		}
		errs = append(errs, fmt.Errorf("node %d: %w", n.ID, err))
	}
	return nil, fmt.Errorf("no live broker answered metadata: %w", errors.Join(errs...))
}

// Inject causes one fault of the given kind, waits for its effect,
// recovers from it and waits for the cluster to heal. Problems are in
// the returned Fault's Err; Inject itself does not fail.
func (in *Injector) Inject(ctx context.Context, kind FaultKind) Fault {
	in.defaults()
	f := Fault{Kind: kind}
	st, err := in.metadataFromAny(ctx)
	if err != nil {
		f.Err = err
		return f
	}
	nodes := in.Cluster.Nodes()
	switch kind {
	case FaultKill, FaultCut:
		// The leader of a random partition.
		p := int32(in.Rand.IntN(int(in.Partitions)))
		f.Node = st[p].Leader
		if in.Cluster.Node(f.Node) == nil {
			f.Node = nodes[in.Rand.IntN(len(nodes))].ID
		}
	default:
		f.Node = nodes[in.Rand.IntN(len(nodes))].ID
	}
	if kind == FaultCut && in.Cluster.Mesh() == nil {
		f.Err = errors.New("cannot cut: the cluster is not proxied")
		return f
	}
	for p := range in.Partitions {
		if st[p].Leader == f.Node {
			f.Affected = append(f.Affected, p)
		}
	}
	node := in.Cluster.Node(f.Node)
	f.Short = kind == FaultPause && in.Rand.IntN(2) == 0
	in.logf("chaos: injecting %s on node %d (leads %v)", kind, f.Node, f.Affected)

	f.At = time.Now()
	switch kind {
	case FaultKill:
		err = node.Kill()
	case FaultPause:
		err = node.Pause()
	case FaultCut:
		in.Cluster.Mesh().Isolate(f.Node)
	case FaultRestart:
		sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err = node.Stop(sctx)
		cancel()
	}
	if err != nil {
		f.Err = fmt.Errorf("injecting: %w", err)
	}

	if f.Short {
		ms := int(in.ShortPause / time.Millisecond)
		sleepCtx(ctx, time.Duration(ms/4+in.Rand.IntN(max(ms-ms/4, 1)))*time.Millisecond)
	} else if len(f.Affected) > 0 && f.Err == nil && in.RF > 1 {
		// (With one replica nobody can take over: the else branch.)
		f.NewLeader, err = in.WaitNewLeader(ctx, f.Node, f.Affected, f.At)
		if err != nil {
			f.Err = err
		} else {
			f.LeaderMoved = true
		}
		// Run a little in the degraded state.
		sleepCtx(ctx, time.Duration(in.Rand.IntN(500))*time.Millisecond)
	} else if kind == FaultPause && in.RF > 1 {
		sleepCtx(ctx, in.FollowerPause)
	} else {
		sleepCtx(ctx, time.Duration(500+in.Rand.IntN(1500))*time.Millisecond)
	}
	f.Held = time.Since(f.At)

	recovered := time.Now()
	if err := in.recover(ctx, kind, node); err != nil {
		f.Err = errors.Join(f.Err, fmt.Errorf("recovering: %w", err))
	}
	if err := in.WaitHealthy(ctx, in.HealTimeout); err != nil {
		f.Err = errors.Join(f.Err, err)
	}
	f.Healed = time.Since(recovered)
	in.logf("chaos: %v", f)
	return f
}

// recover undoes a fault of kind on node.
func (in *Injector) recover(ctx context.Context, kind FaultKind, node *Node) error {
	switch kind {
	case FaultPause:
		if node.State() == NodePaused {
			return node.Resume()
		}
	case FaultCut:
		in.Cluster.Mesh().Heal(node.ID)
	}
	if node.State() == NodeDown {
		sctx, cancel := context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
		return node.Start(sctx)
	}
	return nil
}

// RecoverAll resumes paused brokers, heals every cut and starts brokers
// that are down. It returns the errors joined.
func (in *Injector) RecoverAll(ctx context.Context) error {
	if m := in.Cluster.Mesh(); m != nil {
		m.HealAll()
	}
	var errs []error
	for _, n := range in.Cluster.Nodes() {
		errs = append(errs, in.recover(ctx, FaultPause, n))
	}
	return errors.Join(errs...)
}

// WaitNewLeader polls every surviving broker until one shows, for every
// affected partition, a leader other than victim that is live. It returns
// the time since start, or an error with the last answers if that takes
// longer than LeaderTimeout.
func (in *Injector) WaitNewLeader(ctx context.Context, victim int32, affected []int32, start time.Time) (time.Duration, error) {
	in.defaults()
	ctx, cancel := context.WithTimeout(ctx, in.LeaderTimeout)
	defer cancel()
	last := map[int32]string{}
	var mu sync.Mutex
	for {
		live := in.live(victim)
		found := false
		var wg sync.WaitGroup
		for id := range live {
			n := in.Cluster.Node(id)
			wg.Go(func() {
				st, err := in.Probe.Metadata(ctx, n.KafkaAddr, in.Topic)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					last[id] = err.Error()
					return
				}
				ok := true
				var desc []string
				for _, p := range affected {
					ps := st[p]
					desc = append(desc, fmt.Sprintf("%d:leader=%d", p, ps.Leader))
					if ps.Leader == victim || !live[ps.Leader] {
						ok = false
					}
				}
				last[id] = strings.Join(desc, " ")
				if ok {
					found = true
				}
			})
		}
		wg.Wait()
		if found {
			return time.Since(start), nil
		}
		if !sleepCtx(ctx, 20*time.Millisecond) {
			return 0, fmt.Errorf("no new leader for partitions %v (was node %d) within %v; last answers: %s",
				affected, victim, in.LeaderTimeout, describe(last))
		}
	}
}

// WaitHealthy waits until every live broker's metadata shows every
// partition with a live leader and a full ISR, and returns nil then; or
// an error with each broker's last answer after timeout.
func (in *Injector) WaitHealthy(ctx context.Context, timeout time.Duration) error {
	in.defaults()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	last := map[int32]string{}
	for {
		live := in.live(-1)
		healthy := len(live) > 0
		for id := range live {
			st, err := in.Probe.Metadata(ctx, in.Cluster.Node(id).KafkaAddr, in.Topic)
			if err != nil {
				healthy, last[id] = false, err.Error()
				continue
			}
			ok, why := Healthy(st, in.Partitions, in.RF, live)
			if !ok {
				healthy, last[id] = false, why
				continue
			}
			last[id] = "healthy"
		}
		if healthy {
			return nil
		}
		if !sleepCtx(ctx, 100*time.Millisecond) {
			return fmt.Errorf("the cluster did not heal within %v: %s", timeout, describe(last))
		}
	}
}

func describe(m map[int32]string) string {
	ids := make([]int32, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	var parts []string
	for _, id := range ids {
		parts = append(parts, fmt.Sprintf("node %d: %s", id, m[id]))
	}
	return strings.Join(parts, "; ")
}

// sleepCtx sleeps for d and reports true, or reports false as soon as
// ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// Plan returns perKind faults of each kind, in an order drawn from rng.
func Plan(kinds []FaultKind, perKind int, rng *rand.Rand) []FaultKind {
	var out []FaultKind
	for _, k := range kinds {
		for range perKind {
			out = append(out, k)
		}
	}
	rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

// Percentile returns the nearest-rank p-th percentile (0 < p <= 100) of
// ds, or 0 for none.
func Percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	rank := int(float64(len(s))*p/100 + 0.999999999)
	return s[min(max(rank, 1), len(s))-1]
}

package server

import (
	"context"
	"fmt"
	mrand "math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Consumer groups against Weir with real clients: the classic protocol end
// to end. These run against WEIR_TEST_BROKERS too (see compat_test.go);
// session timeouts are Kafka's minimum (6s) so that a stock Kafka accepts
// them, and members leave explicitly, so nothing waits for a session to
// end.

// groupTOML makes groups form fast: no initial rebalance delay, and a
// small __consumer_offsets.
const groupTOML = "[broker]\n\"group.initial.rebalance.delay.ms\" = 0\n\"offsets.topic.num.partitions\" = 5\n"

// consumedLog records every record the members of a group consumed.
type consumedLog struct {
	mu    sync.Mutex
	seen  map[int32][]int64
	total int
	errs  []error
}

func newConsumedLog() *consumedLog { return &consumedLog{seen: map[int32][]int64{}} }

func (l *consumedLog) add(recs []*kgo.Record) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, r := range recs {
		l.seen[r.Partition] = append(l.seen[r.Partition], r.Offset)
	}
	l.total += len(recs)
}

func (l *consumedLog) fail(err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.errs = append(l.errs, err)
}

func (l *consumedLog) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total
}

// waitFor waits until n records have been consumed in all.
func (l *consumedLog) waitFor(ctx context.Context, t *testing.T, n int) {
	t.Helper()
	for l.count() < n {
		select {
		case <-ctx.Done():
			t.Fatalf("consumed %d records, waiting for %d: %v", l.count(), n, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// check holds the invariant: every partition's records were consumed
// exactly once, from offset 0 to its end, none twice and none skipped.
func (l *consumedLog) check(t *testing.T, ends map[int32]int64) {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, err := range l.errs {
		t.Errorf("member: %v", err)
	}
	for p, end := range ends {
		got := slices.Sorted(slices.Values(l.seen[p]))
		for i, off := range got {
			if off != int64(i) {
				t.Fatalf("partition %d: consumed offsets %v…; at index %d got %d (a record consumed twice or skipped)", p, got[:min(len(got), i+3)], i, off)
			}
		}
		if int64(len(got)) != end {
			t.Fatalf("partition %d: consumed %d records, the partition has %d", p, len(got), end)
		}
	}
}

// groupMember is one consumer of a group, processing and committing in a
// goroutine: it polls with rebalances blocked, records what it got,
// commits it synchronously, then lets a pending rebalance happen. So
// between commits nothing is in flight that another member could get.
type groupMember struct {
	cl     *kgo.Client
	cancel context.CancelFunc
	done   chan struct{}
}

func startMember(t *testing.T, e *compatEnv, topic, group string, log *consumedLog, opts ...kgo.Opt) *groupMember {
	t.Helper()
	base := []kgo.Opt{
		kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic),
		kgo.DisableAutoCommit(), kgo.BlockRebalanceOnPoll(),
		kgo.SessionTimeout(6 * time.Second), kgo.HeartbeatInterval(100 * time.Millisecond),
		kgo.RebalanceTimeout(20 * time.Second), kgo.FetchMaxWait(100 * time.Millisecond),
		kgo.OnPartitionsRevoked(func(ctx context.Context, cl *kgo.Client, _ map[string][]int32) {
			if err := cl.CommitUncommittedOffsets(ctx); err != nil {
				log.fail(fmt.Errorf("commit on revoke: %w", err))
			}
		}),
	}
	cl := e.client(t, append(base, opts...)...)
	ctx, cancel := context.WithCancel(context.Background())
	m := &groupMember{cl: cl, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(m.done)
		for {
			fs := cl.PollFetches(ctx)
			recs := fs.Records()
			log.add(recs)
			if len(recs) > 0 {
				if err := cl.CommitRecords(context.Background(), recs...); err != nil {
					log.fail(fmt.Errorf("commit: %w", err))
				}
			}
			cl.AllowRebalance()
			if ctx.Err() != nil {
				return
			}
		}
	}()
	return m
}

// stop ends the member's loop after its last commit and leaves the group.
func (m *groupMember) stop() {
	m.cancel()
	<-m.done
	m.cl.Close()
}

// producer writes records to random partitions until stopped.
type producer struct {
	stop chan struct{}
	done chan struct{}
}

func startProducer(t *testing.T, e *compatEnv, topic string, partitions int32) *producer {
	cl := e.client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(0))
	p := &producer{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		for i := 0; ; i++ {
			select {
			case <-p.stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			var recs []*kgo.Record
			for j := 0; j < 10; j++ {
				recs = append(recs, &kgo.Record{Topic: topic, Partition: mrand.Int32N(partitions), Value: fmt.Appendf(nil, "%d-%d", i, j)})
			}
			if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
				t.Errorf("produce: %v", err)
				return
			}
		}
	}()
	return p
}

func (p *producer) finish() {
	close(p.stop)
	<-p.done
}

// endOffsets returns each partition's end offset.
func endOffsets(ctx context.Context, t *testing.T, e *compatEnv, topic string) (map[int32]int64, int) {
	t.Helper()
	ends, err := kadm.NewClient(e.client(t)).ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	out, total := map[int32]int64{}, 0
	ends.Each(func(o kadm.ListedOffset) {
		out[o.Partition] = o.Offset
		total += int(o.Offset)
	})
	return out, total
}

// TestGroupFranzGoBalancers runs a group with each of franz-go's
// balancers while records flow and members join and leave: every record is
// consumed exactly once.
func TestGroupFranzGoBalancers(t *testing.T) {
	e := newCompatEnv(t, groupTOML)
	for _, b := range []struct {
		name     string
		balancer kgo.GroupBalancer
	}{
		{"range", kgo.RangeBalancer()},
		{"roundrobin", kgo.RoundRobinBalancer()},
		{"sticky", kgo.StickyBalancer()},
		{"cooperative-sticky", kgo.CooperativeStickyBalancer()},
	} {
		t.Run(b.name, func(t *testing.T) {
			ctx := compatCtx(t, 3*time.Minute)
			const partitions = 6
			topic := e.newTopic(ctx, t, partitions, nil).name
			group := compatTopicName(t)
			log := newConsumedLog()
			join := func() *groupMember { return startMember(t, e, topic, group, log, kgo.Balancers(b.balancer)) }

			// Each step changes the members, waits for the group to settle
			// and for more records to be consumed.
			step := func(members int) {
				waitStable(ctx, t, e, group, members)
				log.waitFor(ctx, t, log.count()+200)
			}
			prod := startProducer(t, e, topic, partitions)
			m1 := join()
			step(1)
			m2, m3 := join(), join()
			step(3)
			m1.stop()
			step(2)
			m4 := join()
			step(3)
			m2.stop()
			step(2)
			prod.finish()
			ends, total := endOffsets(ctx, t, e, topic)
			log.waitFor(ctx, t, total)
			m3.stop()
			m4.stop()
			log.check(t, ends)

			adm := kadm.NewClient(e.client(t))
			described, err := adm.DescribeGroups(ctx, group)
			if err != nil || described[group].State != "Empty" {
				t.Fatalf("group after every member left: %+v, %v", described[group], err)
			}
			committed, err := adm.FetchOffsets(ctx, group)
			if err != nil {
				t.Fatal(err)
			}
			for p, end := range ends {
				if o, _ := committed.Lookup(topic, p); o.At != end {
					t.Errorf("partition %d: committed %d, end %d", p, o.At, end)
				}
			}
		})
	}
}

// TestGroupFranzGoStaticMemberRestart: a static member that restarts
// within its session timeout takes its place again without a rebalance:
// the generation is unchanged and it gets its partitions back.
func TestGroupFranzGoStaticMemberRestart(t *testing.T) {
	e := newCompatEnv(t, groupTOML)
	ctx := compatCtx(t, 2*time.Minute)
	topic := e.newTopic(ctx, t, 4, nil).name
	group := compatTopicName(t)
	type member struct {
		cl       *kgo.Client
		assigned chan []int32
	}
	static := func(id string) member {
		m := member{assigned: make(chan []int32, 10)}
		m.cl = e.client(t, kgo.ConsumerGroup(group), kgo.ConsumeTopics(topic), kgo.InstanceID(id),
			kgo.Balancers(kgo.RangeBalancer()), kgo.SessionTimeout(30*time.Second), kgo.HeartbeatInterval(100*time.Millisecond),
			kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, a map[string][]int32) { m.assigned <- a[topic] }))
		return m
	}
	// latest returns the member's newest assignment, waiting for one if
	// it has none yet.
	latest := func(m member) []int32 {
		var a []int32
		select {
		case a = <-m.assigned:
		case <-ctx.Done():
			t.Fatal("no assignment")
		}
		for len(m.assigned) > 0 {
			a = <-m.assigned
		}
		return a
	}

	a := static("a")
	latest(a)
	b := static("b")
	waitStable(ctx, t, e, group, 2)
	before := latest(b)
	latest(a) // a was reassigned when b joined
	_, genA := a.cl.GroupMetadata()
	idB, genB := b.cl.GroupMetadata()
	if genA != genB {
		t.Fatalf("generations %d and %d", genA, genB)
	}

	b.cl.Close() // a static member does not leave the group when it closes
	b2 := static("b")
	after := latest(b2)
	id2, gen2 := b2.cl.GroupMetadata()
	if gen2 != genB || id2 == idB {
		t.Fatalf("restarted static member: generation %d (was %d), member id %s (was %s)", gen2, genB, id2, idB)
	}
	if _, g := a.cl.GroupMetadata(); g != genA || len(a.assigned) > 0 {
		t.Fatalf("the other member's generation moved from %d to %d, or it was reassigned", genA, g)
	}
	if !slices.Equal(before, after) || len(after) != 2 {
		t.Fatalf("assignment %v after the restart, was %v", after, before)
	}
	waitStable(ctx, t, e, group, 2)
	if _, g := a.cl.GroupMetadata(); g != genA || len(a.assigned) > 0 {
		t.Fatalf("the other member's generation moved from %d to %d, or it was reassigned", genA, g)
	}
}

// waitStable waits until the group is Stable with n members.
func waitStable(ctx context.Context, t *testing.T, e *compatEnv, group string, n int) kadm.DescribedGroup {
	t.Helper()
	adm := kadm.NewClient(e.client(t))
	for {
		d, err := adm.DescribeGroups(ctx, group)
		if err == nil && d[group].State == "Stable" && len(d[group].Members) == n {
			return d[group]
		}
		select {
		case <-ctx.Done():
			t.Fatalf("group %s not stable with %d members: %+v, %v", group, n, d[group], err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// TestGroupOffsetsSurviveRestart: committed offsets are read back from
// __consumer_offsets when the broker starts again.
func TestGroupOffsetsSurviveRestart(t *testing.T) {
	e := newCompatEnv(t, groupTOML)
	e.needLocal(t, "restarts the broker")
	ctx := compatCtx(t, time.Minute)
	topic := e.newTopic(ctx, t, 3, nil).name
	for p := int32(0); p < 3; p++ {
		e.tb.produceTo(t, topic, p, 10+int(p))
	}
	log := newConsumedLog()
	m := startMember(t, e, topic, "survivor", log)
	log.waitFor(ctx, t, 33)
	m.stop()

	dir := e.tb.dir
	e.tb.stop()
	tb := startBroker(t, dir, groupTOML)
	adm := tb.admin()
	var committed kadm.OffsetResponses
	for {
		var err error
		if committed, err = adm.FetchOffsets(ctx, "survivor"); err == nil {
			break
		}
		select { // the coordinator may still be loading
		case <-ctx.Done():
			t.Fatalf("fetch offsets after the restart: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	for p := int32(0); p < 3; p++ {
		if o, ok := committed.Lookup(topic, p); !ok || o.At != int64(10+p) {
			t.Errorf("partition %d: committed %+v after the restart, want %d", p, o, 10+p)
		}
	}
	// A member of the group resumes where the group left off.
	for p := int32(0); p < 3; p++ {
		tb.produceTo(t, topic, p, 2)
	}
	e2 := &compatEnv{addrs: []string{tb.addr()}, tb: tb}
	log2 := newConsumedLog()
	m2 := startMember(t, e2, topic, "survivor", log2)
	log2.waitFor(ctx, t, 6)
	m2.stop()
	for p, offs := range log2.seen {
		if want := []int64{int64(10 + p), int64(11 + p)}; !slices.Equal(slices.Sorted(slices.Values(offs)), want) {
			t.Errorf("partition %d: resumed with offsets %v, want %v", p, offs, want)
		}
	}
}

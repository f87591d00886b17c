package server

import (
	"context"
	"maps"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirmq/weir/core/group"
)

// KIP-848 consumer groups against a real broker: members driven with raw
// ConsumerGroupHeartbeat requests (reconciliation step by step, restart),
// and franz-go's next-gen consumer (kgo.ServerSideBalancer) while records
// flow.

// fastConsumerGroups makes KIP-848 groups heartbeat every 100 ms (the
// configuration table has no group.consumer.* keys yet).
func fastConsumerGroups(o *Options) {
	o.groupConfigForTesting = func(c *group.Config) {
		c.ConsumerHeartbeatInterval = 100 * time.Millisecond
		c.ConsumerSessionTimeout = 10 * time.Second
	}
}

// rawMember is a KIP-848 member driven by hand: it owns what it was last
// assigned (revoking at once unless told otherwise).
type rawMember struct {
	t        *testing.T
	cl       *kgo.Client
	group    string
	id       string
	instance string
	assignor string
	topics   []string
	epoch    int32
	owned    map[[16]byte][]int32
	hold     bool // keep revoked partitions until release
	latest   map[[16]byte][]int32
}

func newRawMember(t *testing.T, cl *kgo.Client, group, id string, topics ...string) *rawMember {
	return &rawMember{t: t, cl: cl, group: group, id: id, topics: topics, owned: map[[16]byte][]int32{}}
}

func (m *rawMember) send(ctx context.Context, epoch int32, full bool) *kmsg.ConsumerGroupHeartbeatResponse {
	m.t.Helper()
	req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	req.Group, req.MemberID, req.MemberEpoch = m.group, m.id, epoch
	if full {
		req.RebalanceTimeoutMillis = 30_000
		req.SubscribedTopicNames = m.topics
		if m.instance != "" {
			req.InstanceID = &m.instance
		}
		if m.assignor != "" {
			req.ServerAssignor = &m.assignor
		}
		req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
		if epoch != 0 {
			for id, ps := range m.owned {
				req.Topics = append(req.Topics, kmsg.ConsumerGroupHeartbeatRequestTopic{TopicID: id, Partitions: ps})
			}
		}
	}
	var resp *kmsg.ConsumerGroupHeartbeatResponse
	for {
		var err error
		resp, err = req.RequestWith(ctx, m.cl)
		if err != nil {
			m.t.Fatalf("heartbeat of %s: %v", m.id, err)
		}
		// A coordinator still loading its partition answers with a
		// retriable code; real clients retry, and so does this one.
		if resp.ErrorCode != kerr.CoordinatorLoadInProgress.Code || ctx.Err() != nil {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if resp.ErrorCode != 0 {
		return resp
	}
	m.epoch = resp.MemberEpoch
	if resp.Assignment != nil {
		m.latest = map[[16]byte][]int32{}
		for _, tp := range resp.Assignment.Topics {
			m.latest[tp.TopicID] = tp.Partitions
			for _, p := range tp.Partitions {
				if !slices.Contains(m.owned[tp.TopicID], p) {
					m.owned[tp.TopicID] = append(m.owned[tp.TopicID], p)
				}
			}
		}
		if !m.hold {
			m.release()
		}
	}
	return resp
}

// release gives up what the last assignment revoked.
func (m *rawMember) release() {
	m.owned = maps.Clone(m.latest)
}

func (m *rawMember) ok(ctx context.Context, epoch int32, full bool) *kmsg.ConsumerGroupHeartbeatResponse {
	m.t.Helper()
	resp := m.send(ctx, epoch, full)
	checkCode(m.t, "heartbeat of "+m.id, resp.ErrorCode, resp.ErrorMessage, noError, "")
	return resp
}

func (m *rawMember) join(ctx context.Context) *kmsg.ConsumerGroupHeartbeatResponse {
	m.owned = map[[16]byte][]int32{}
	return m.ok(ctx, 0, true)
}

func (m *rawMember) beat(ctx context.Context) *kmsg.ConsumerGroupHeartbeatResponse {
	return m.ok(ctx, m.epoch, true)
}

func (m *rawMember) count() int {
	n := 0
	for _, ps := range m.owned {
		n += len(ps)
	}
	return n
}

func disjoint(t *testing.T, what string, ms ...*rawMember) {
	t.Helper()
	seen := map[[16]byte]map[int32]string{}
	for _, m := range ms {
		for id, ps := range m.owned {
			if seen[id] == nil {
				seen[id] = map[int32]string{}
			}
			for _, p := range ps {
				if other, ok := seen[id][p]; ok {
					t.Fatalf("%s: partition %d owned by %s and %s", what, p, other, m.id)
				}
				seen[id][p] = m.id
			}
		}
	}
}

func topicID(ctx context.Context, t *testing.T, adm *kadm.Client, topic string) [16]byte {
	t.Helper()
	td, err := adm.ListTopics(ctx, topic)
	if err != nil || td[topic].Err != nil {
		t.Fatalf("topic %s: %v %v", topic, err, td[topic].Err)
	}
	return td[topic].ID
}

// TestConsumerGroupRawReconciliation drives two members by hand through
// join, revoke-before-reassign, describe, commits, a leave and a broker
// restart.
func TestConsumerGroupRawReconciliation(t *testing.T) {
	tb := startBrokerWith(t, "", groupTOML, fastConsumerGroups)
	ctx := adminCtx(t)
	tb.createTopic(t, "orders", 4, nil)
	adm := tb.admin()
	orders := topicID(ctx, t, adm, "orders")
	cl := tb.client()

	a := newRawMember(t, cl, "g848", "member-a", "orders")
	resp := a.join(ctx)
	if resp.MemberEpoch != 1 || a.count() != 4 || resp.HeartbeatIntervalMillis != 100 {
		t.Fatalf("a joined: epoch %d, owns %v, interval %d", resp.MemberEpoch, a.owned, resp.HeartbeatIntervalMillis)
	}
	a.hold = true
	b := newRawMember(t, cl, "g848", "member-b", "orders")
	if resp = b.join(ctx); resp.MemberEpoch != 2 || b.count() != 0 {
		t.Fatalf("b joined: epoch %d, owns %v", resp.MemberEpoch, b.owned)
	}
	// a is asked to revoke two partitions and keeps its epoch; b gets
	// nothing until a says it no longer owns them.
	if resp = a.beat(ctx); resp.MemberEpoch != 1 || len(a.latest[orders]) != 2 {
		t.Fatalf("a: epoch %d, assigned %v", resp.MemberEpoch, a.latest)
	}
	for range 3 {
		a.beat(ctx)
		b.beat(ctx)
		disjoint(t, "while a revokes", a, b)
	}
	if b.count() != 0 {
		t.Fatalf("b got %v before a revoked", b.owned)
	}
	a.release()
	if resp = a.beat(ctx); resp.MemberEpoch != 2 {
		t.Fatalf("a after revoking: epoch %d", resp.MemberEpoch)
	}
	if resp = b.beat(ctx); resp.MemberEpoch != 2 || b.count() != 2 {
		t.Fatalf("b: epoch %d, owns %v", resp.MemberEpoch, b.owned)
	}
	disjoint(t, "after", a, b)

	// Describe (KIP-848's API, and the classic one), list.
	described, err := adm.DescribeConsumerGroups(ctx, "g848")
	if err != nil {
		t.Fatal(err)
	}
	d := described["g848"]
	if d.Err != nil || d.State != "Stable" || d.Epoch != 2 || d.AssignmentEpoch != 2 || d.AssignorName != "uniform" || len(d.Members) != 2 {
		t.Fatalf("ConsumerGroupDescribe: %+v", d)
	}
	for _, m := range d.Members {
		if m.MemberEpoch != 2 || len(m.Assignment["orders"]) != 2 || m.ClientHost == "" {
			t.Fatalf("described member: %+v", m)
		}
	}
	classic := kmsg.NewPtrDescribeGroupsRequest()
	classic.Groups = []string{"g848"}
	dg := tb.send(t, classic, 5).(*kmsg.DescribeGroupsResponse).Groups[0]
	if dg.State != "Dead" || dg.ErrorCode != 0 {
		t.Fatalf("DescribeGroups v5 of a consumer group: %+v", dg)
	}
	listed, err := adm.ListGroups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if lg := listed["g848"]; lg.ProtocolType != "consumer" || lg.State != "Stable" {
		t.Fatalf("ListGroups: %+v", lg)
	}
	lreq := kmsg.NewPtrListGroupsRequest()
	lreq.TypesFilter = []string{"consumer"}
	lresp := tb.send(t, lreq, 5).(*kmsg.ListGroupsResponse)
	if len(lresp.Groups) != 1 || lresp.Groups[0].GroupType != "consumer" {
		t.Fatalf("ListGroups types=consumer: %+v", lresp.Groups)
	}

	// Commits carry the member epoch: b's partitions were given to it at
	// epoch 2, so a commit at epoch 1 is stale for them.
	commit := func(m *rawMember, epoch int32) int16 {
		req := kmsg.NewPtrOffsetCommitRequest()
		req.Group, req.MemberID, req.Generation = m.group, m.id, epoch
		rt := kmsg.NewOffsetCommitRequestTopic()
		rt.Topic = "orders"
		for _, p := range m.owned[orders] {
			rp := kmsg.NewOffsetCommitRequestTopicPartition()
			rp.Partition, rp.Offset = p, 1
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
		return tb.send(t, req, 9).(*kmsg.OffsetCommitResponse).Topics[0].Partitions[0].ErrorCode
	}
	if code := commit(b, 1); code != kerr.StaleMemberEpoch.Code {
		t.Fatalf("commit at an old epoch: %v", kerr.ErrorForCode(code))
	}
	if code := commit(b, 2); code != 0 {
		t.Fatalf("commit at the member's epoch: %v", kerr.ErrorForCode(code))
	}
	fetch := kmsg.NewPtrOffsetFetchRequest()
	fg := kmsg.NewOffsetFetchRequestGroup()
	fg.Group, fg.MemberID, fg.MemberEpoch = "g848", &b.id, 1
	fetch.Groups = append(fetch.Groups, fg)
	if code := tb.send(t, fetch, 9).(*kmsg.OffsetFetchResponse).Groups[0].ErrorCode; code != kerr.StaleMemberEpoch.Code {
		t.Fatalf("OffsetFetch at an old epoch: %v", kerr.ErrorForCode(code))
	}

	// A classic member cannot join; an unknown assignor is refused.
	jreq := kmsg.NewPtrJoinGroupRequest()
	jreq.Group, jreq.ProtocolType, jreq.SessionTimeoutMillis, jreq.RebalanceTimeoutMillis = "g848", "consumer", 10_000, 10_000
	jreq.Protocols = []kmsg.JoinGroupRequestProtocol{{Name: "range", Metadata: []byte{0, 0, 0, 0, 0, 0, 0, 0}}}
	jreq.MemberID = "x"
	if r := tb.send(t, jreq, 9).(*kmsg.JoinGroupResponse); r.ErrorCode != kerr.InconsistentGroupProtocol.Code {
		t.Fatalf("classic join of a consumer group: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	c := newRawMember(t, cl, "g848", "member-c", "orders")
	c.assignor = "no-such-assignor"
	if r := c.send(ctx, 0, true); r.ErrorCode != kerr.UnsupportedAssignor.Code {
		t.Fatalf("unknown assignor: %v", kerr.ErrorForCode(r.ErrorCode))
	}

	// The broker restarts: the members carry on with their epochs and
	// assignments.
	dir := tb.dir
	tb.stop()
	tb = startBrokerWith(t, dir, groupTOML, fastConsumerGroups)
	cl = tb.client()
	a.cl, b.cl = cl, cl
	for {
		r := a.send(ctx, a.epoch, true)
		if r.ErrorCode == 0 {
			if r.MemberEpoch != 2 || len(a.latest[orders]) != 2 {
				t.Fatalf("a after the restart: epoch %d, assigned %v", r.MemberEpoch, a.latest)
			}
			break
		}
		if r.ErrorCode != kerr.CoordinatorLoadInProgress.Code && r.ErrorCode != kerr.NotCoordinator.Code {
			t.Fatalf("a after the restart: %v", kerr.ErrorForCode(r.ErrorCode))
		}
		time.Sleep(20 * time.Millisecond)
	}
	b.beat(ctx)
	if b.epoch != 2 || b.count() != 2 {
		t.Fatalf("b after the restart: epoch %d, owns %v", b.epoch, b.owned)
	}
	// b leaves; a gets everything.
	if r := b.ok(ctx, -1, false); r.MemberEpoch != -1 {
		t.Fatalf("leave: %+v", r)
	}
	a.hold = false
	a.beat(ctx)
	if a.count() != 4 || a.epoch != 3 {
		t.Fatalf("a after b left: epoch %d, owns %v", a.epoch, a.owned)
	}
}

// TestConsumerGroupAssignorSelection: the member's ServerAssignor picks
// the layout: range (per topic) and uniform (over the group) differ.
func TestConsumerGroupAssignorSelection(t *testing.T) {
	tb := startBrokerWith(t, "", groupTOML, fastConsumerGroups)
	ctx := adminCtx(t)
	tb.createTopic(t, "t1", 3, nil)
	tb.createTopic(t, "t2", 3, nil)
	cl := tb.client()
	for _, c := range []struct {
		assignor string
		want     []int
	}{
		{"range", []int{2, 4}},
		{"uniform", []int{3, 3}},
	} {
		group := "sel-" + c.assignor
		a, b := newRawMember(t, cl, group, "a", "t1", "t2"), newRawMember(t, cl, group, "b", "t1", "t2")
		a.assignor, b.assignor = c.assignor, c.assignor
		a.join(ctx)
		b.join(ctx)
		for range 3 {
			a.beat(ctx)
			b.beat(ctx)
		}
		disjoint(t, c.assignor, a, b)
		got := []int{a.count(), b.count()}
		slices.Sort(got)
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: members own %v partitions, want %v", c.assignor, got, c.want)
		}
		d, err := tb.admin().DescribeConsumerGroups(ctx, group)
		if err != nil || d[group].AssignorName != c.assignor {
			t.Errorf("%s: described assignor %q, %v", c.assignor, d[group].AssignorName, err)
		}
	}
}

// waitStable848 waits until the consumer group is Stable with n members,
// each of which has reached the target.
func waitStable848(ctx context.Context, t *testing.T, e *compatEnv, group string, n int) {
	t.Helper()
	adm := kadm.NewClient(e.client(t))
	for {
		d, err := adm.DescribeConsumerGroups(ctx, group)
		if err == nil && d[group].Err == nil && d[group].State == "Stable" && len(d[group].Members) == n {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("consumer group %s not stable with %d members: %+v, %v", group, n, d[group], err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// TestConsumerGroupFranzGoServerSide runs franz-go's KIP-848 consumer
// (kgo.ServerSideBalancer) while records flow and members join and leave:
// between commits no record is consumed twice and none is skipped.
func TestConsumerGroupFranzGoServerSide(t *testing.T) {
	var e *compatEnv
	if os.Getenv(compatBrokersEnv) != "" {
		e = newCompatEnv(t, "")
	} else {
		tb := startBrokerWith(t, "", groupTOML, fastConsumerGroups)
		e = &compatEnv{addrs: []string{tb.addr()}, tb: tb}
	}
	for _, b := range []struct {
		name     string
		balancer kgo.GroupBalancer
	}{
		{"range", kgo.RangeBalancer()},
		{"uniform", kgo.CooperativeStickyBalancer()},
	} {
		t.Run(b.name, func(t *testing.T) {
			ctx := compatCtx(t, 3*time.Minute)
			const partitions = 6
			topic := e.newTopic(ctx, t, partitions, nil).name
			group := compatTopicName(t)
			log := newConsumedLog()
			join := func() *groupMember {
				return startMember(t, e, topic, group, log, kgo.ServerSideBalancer(), kgo.Balancers(b.balancer))
			}
			step := func(members int) {
				waitStable848(ctx, t, e, group, members)
				log.waitFor(ctx, t, log.count()+200)
			}
			prod := startProducer(t, e, topic, partitions)
			m1 := join()
			step(1)
			m2, m3 := join(), join()
			step(3)
			adm := kadm.NewClient(e.client(t))
			if d, err := adm.DescribeConsumerGroups(ctx, group); err != nil || d[group].AssignorName != b.name {
				t.Fatalf("assignor %q, want %q (%v)", d[group].AssignorName, b.name, err)
			}
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

			described, err := adm.DescribeConsumerGroups(ctx, group)
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

// TestConsumerGroupFranzGoRegexAndStatic: franz-go's KIP-848 consumer
// subscribing with a regular expression (resolved by the broker), and a
// static member that restarts and gets its partitions back at the same
// group epoch.
func TestConsumerGroupFranzGoRegexAndStatic(t *testing.T) {
	tb := startBrokerWith(t, "", groupTOML, fastConsumerGroups)
	e := &compatEnv{addrs: []string{tb.addr()}, tb: tb}
	ctx := compatCtx(t, 2*time.Minute)
	for _, name := range []string{"rx-a", "rx-b", "other"} {
		tb.createTopic(t, name, 2, nil)
		for p := int32(0); p < 2; p++ {
			tb.produceTo(t, name, p, 5)
		}
	}
	cl := e.client(t, kgo.ConsumerGroup("regex"), kgo.ConsumeRegex(), kgo.ConsumeTopics("rx-.*"),
		kgo.ServerSideBalancer(), kgo.Balancers(kgo.RangeBalancer()), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	got := map[string]int{}
	for n := 0; n < 20; {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %v: %v", got, err)
		}
		fs.EachRecord(func(r *kgo.Record) { got[r.Topic]++; n++ })
	}
	if got["rx-a"] != 10 || got["rx-b"] != 10 || got["other"] != 0 {
		t.Fatalf("regex consumer got %v", got)
	}
	d, err := tb.admin().DescribeConsumerGroups(ctx, "regex")
	if err != nil || len(d["regex"].Members) != 1 || d["regex"].Members[0].SubscribedTopicRegex == nil {
		t.Fatalf("described: %+v, %v", d["regex"], err)
	}

	topic := e.newTopic(ctx, t, 4, nil).name
	assigned := make(chan []int32, 10)
	static := func(id string, ch chan []int32) *kgo.Client {
		return e.client(t, kgo.ConsumerGroup("static"), kgo.ConsumeTopics(topic), kgo.InstanceID(id),
			kgo.ServerSideBalancer(), kgo.Balancers(kgo.RangeBalancer()),
			kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, a map[string][]int32) {
				if ch != nil {
					ch <- a[topic]
				}
			}))
	}
	a := static("a", nil)
	b := static("b", assigned)
	go a.PollFetches(ctx)
	go b.PollFetches(ctx)
	waitStable848(ctx, t, e, "static", 2)
	desc := func() kadm.DescribedConsumerGroup {
		d, err := tb.admin().DescribeConsumerGroups(ctx, "static")
		if err != nil {
			t.Fatal(err)
		}
		return d["static"]
	}
	before := desc()
	var bParts []int32
	for _, m := range before.Members {
		if m.InstanceID != nil && *m.InstanceID == "b" {
			bParts = slices.Sorted(maps.Keys(m.Assignment[topic]))
		}
	}
	b.Close() // leaves with epoch -2: its partitions wait for it
	assigned2 := make(chan []int32, 10)
	b2 := static("b", assigned2)
	go b2.PollFetches(ctx)
	var after []int32
	select {
	case after = <-assigned2:
	case <-ctx.Done():
		t.Fatal("the restarted static member got no assignment")
	}
	slices.Sort(after)
	waitStable848(ctx, t, e, "static", 2)
	if d := desc(); d.Epoch != before.Epoch || !slices.Equal(after, bParts) || len(after) != 2 {
		t.Fatalf("restarted static member got %v at group epoch %d; had %v at %d", after, d.Epoch, bParts, before.Epoch)
	}
}

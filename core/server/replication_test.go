package server

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirmq/weir/core/controller"
	"github.com/weirmq/weir/core/group"
	"github.com/weirmq/weir/core/log"
	"github.com/weirmq/weir/core/record"
)

// Replication across in-process brokers sharing one controller.Local
// (cluster_harness_test.go), with real franz-go clients.

// metricValue returns the value of an unlabelled counter or gauge.
func metricValue(t *testing.T, m *Metrics, name string) float64 {
	t.Helper()
	mfs, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, mm := range mf.GetMetric() {
			if len(mm.GetLabel()) > 0 {
				continue
			}
			switch {
			case mm.Counter != nil:
				return mm.GetCounter().GetValue()
			case mm.Gauge != nil:
				return mm.GetGauge().GetValue()
			}
		}
	}
	return 0
}

// clusterTOML is the [broker] table of the replication tests: fast
// follower fetches, a short replica.lag.time.max.ms, few offsets
// partitions.
const clusterTOML = `
"replica.lag.time.max.ms" = 400
"replica.fetch.wait.max.ms" = 50
"offsets.topic.num.partitions" = 3
"group.initial.rebalance.delay.ms" = 0
`

// produceValues produces values to topic/partition with the client's acks
// and returns the offsets.
func produceValues(t *testing.T, cl *kgo.Client, topic string, part int32, values ...string) []int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var rs []*kgo.Record
	for _, v := range values {
		rs = append(rs, &kgo.Record{Topic: topic, Partition: part, Value: []byte(v)})
	}
	res := cl.ProduceSync(ctx, rs...)
	if err := res.FirstErr(); err != nil {
		t.Fatalf("produce to %s-%d: %v", topic, part, err)
	}
	var out []int64
	for _, r := range res {
		out = append(out, r.Record.Offset)
	}
	return out
}

// recordValues returns n distinct record values with a prefix.
func recordValues(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%d", prefix, i)
	}
	return out
}

// TestReplicationAcksAllISRShrinkAndMinISR: RF=3, min.insync.replicas=2.
// acks=all writes reach every replica byte for byte; a stopped follower
// leaves the ISR after replica.lag.time.max.ms and acks=all goes on with
// two; with one, it is refused (NOT_ENOUGH_REPLICAS); followers that come
// back rejoin.
func TestReplicationAcksAllISRShrinkAndMinISR(t *testing.T) {
	c := startCluster(t, 3, clusterTOML)
	c.createTopic("orders", [][]int32{{1, 2, 3}}, map[string]string{"min.insync.replicas": "2"})
	cl := c.client(kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordPartitioner(kgo.ManualPartitioner()))

	// acks=all with the whole ISR: every replica has the records,
	// byte-identical below the HW.
	offs := produceValues(t, cl, "orders", 0, recordValues("a", 20)...)
	if offs[0] != 0 || offs[19] != 19 {
		t.Fatalf("offsets %v", offs)
	}
	c.requireSameLogs("orders", 0, 1, 20, 2, 3)
	if isr := c.partitionMeta("orders", 0).ISR; !slices.Equal(isr, []int32{1, 2, 3}) {
		t.Fatalf("ISR %v, want [1 2 3]", isr)
	}

	// Broker 3 stops: after replica.lag.time.max.ms the leader shrinks the
	// ISR through the controller, and acks=all goes on with two. Its HW is
	// in its checkpoint for the next start.
	p3 := c.replica(3, "orders", 0)
	eventually(t, "broker 3 to learn the HW", func() bool { return p3.HighWatermark() == 20 })
	c.stop(3)
	cp, err := log.ReadOffsetCheckpoint(filepath.Join(c.node(3).dir, log.ReplicationCheckpointFile))
	if err != nil || cp[log.TopicPartition{Topic: "orders", Partition: 0}] != 20 {
		t.Fatalf("broker 3's HW checkpoint: %v %v, want orders-0 at 20", cp, err)
	}
	produceValues(t, cl, "orders", 0, recordValues("b", 5)...)
	eventually(t, "the ISR to shrink to [1 2]", func() bool {
		return slices.Equal(c.partitionMeta("orders", 0).ISR, []int32{1, 2})
	})
	offs = produceValues(t, cl, "orders", 0, recordValues("c", 5)...)
	if offs[4] != 29 {
		t.Fatalf("offsets %v", offs)
	}
	c.requireSameLogs("orders", 0, 1, 30, 2)
	if got := metricValue(t, c.node(1).metrics, "weir_isr_shrinks_total"); got < 1 {
		t.Fatalf("weir_isr_shrinks_total = %v", got)
	}

	// Broker 2 stops too: the ISR is the leader alone, below
	// min.insync.replicas, and acks=all is refused before the append.
	c.stop(2)
	// A follower at the leader's LEO counts as caught up however long it
	// is silent (Kafka's rule): a write makes broker 2 fall behind.
	if code := produceOneRaw(t, c, 1, "orders", 0, 1, "behind"); code != 0 {
		t.Fatalf("acks=1: %v", kerr.ErrorForCode(code))
	}
	eventually(t, "the ISR to shrink to [1]", func() bool {
		return slices.Equal(c.partitionMeta("orders", 0).ISR, []int32{1})
	})
	leo := c.replica(1, "orders", 0).LogEndOffset()
	if code := produceOneRaw(t, c, 1, "orders", 0, -1, "d"); code != kerr.NotEnoughReplicas.Code {
		t.Fatalf("acks=all with the ISR [1]: code %d (%v), want NOT_ENOUGH_REPLICAS", code, kerr.ErrorForCode(code))
	}
	if got := c.replica(1, "orders", 0).LogEndOffset(); got != leo {
		t.Fatalf("a refused acks=all write was appended: LEO %d, was %d", got, leo)
	}
	// acks=1 still works.
	if code := produceOneRaw(t, c, 1, "orders", 0, 1, "e"); code != 0 {
		t.Fatalf("acks=1: %v", kerr.ErrorForCode(code))
	}
	if v := metricValue(t, c.node(1).metrics, "weir_under_replicated_partitions"); v != 1 {
		t.Fatalf("weir_under_replicated_partitions = %v, want 1", v)
	}

	// Both come back: they catch up, rejoin the ISR, and acks=all works
	// again with every replica identical.
	c.start(2)
	c.start(3)
	eventually(t, "the ISR to grow back to [1 2 3]", func() bool {
		return slices.Equal(c.partitionMeta("orders", 0).ISR, []int32{1, 2, 3})
	})
	produceValues(t, cl, "orders", 0, recordValues("f", 3)...)
	c.requireSameLogs("orders", 0, 1, 35, 2, 3)
	if got := metricValue(t, c.node(1).metrics, "weir_isr_expands_total"); got < 1 {
		t.Fatalf("weir_isr_expands_total = %v", got)
	}
}

// produceOneRaw sends one produce of value with the given acks straight to
// broker id and returns the partition's error code, so that retriable
// errors franz-go would retry are seen as they are.
func produceOneRaw(t *testing.T, c *testCluster, id int32, topic string, part int32, acks int16, value string) int16 {
	t.Helper()
	// kgo rewrites a raw produce's acks to its own setting.
	acksOpt := []kgo.Opt{kgo.RequiredAcks(kgo.AllISRAcks())}
	if acks == 1 {
		acksOpt = []kgo.Opt{kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite()}
	}
	cl := c.client(append(acksOpt, kgo.SeedBrokers(c.broker(id).Addr().String()))...)
	bld := record.NewBuilder(record.BuilderOptions{})
	bld.Append(nil, []byte(value), time.Now().UnixMilli(), nil)
	b, err := bld.Build(nil)
	if err != nil {
		t.Fatal(err)
	}
	req := kmsg.NewPtrProduceRequest()
	req.Acks, req.TimeoutMillis = acks, 5000
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition, rp.Records = part, b
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	return resp.Topics[0].Partitions[0].ErrorCode
}

// TestLeaderChangeTruncatesADivergedFollower plays KIP-279's case with
// real brokers: a replica that wrote in a leader epoch the next leader
// never had comes back as a follower and must truncate to where the
// leader's log and its own part ways, then hold the leader's records.
func TestLeaderChangeTruncatesADivergedFollower(t *testing.T) {
	c := startCluster(t, 3, clusterTOML)
	c.createTopic("div", [][]int32{{1, 2, 3}}, map[string]string{"unclean.leader.election.enable": "true"})
	all := c.client(kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	produceValues(t, all, "div", 0, recordValues("shared", 5)...) // offsets 0-4 everywhere
	c.requireSameLogs("div", 0, 1, 5, 2, 3)
	e0 := c.partitionMeta("div", 0).LeaderEpoch

	// 2 and 3 stop; 1 leads alone and writes offsets 5-7 in epoch e0.
	c.stop(2)
	c.stop(3)
	if code := produceOneRaw(t, c, 1, "div", 0, 1, "only-on-1"); code != 0 {
		t.Fatal(kerr.ErrorForCode(code))
	}
	eventually(t, "the ISR to shrink to [1]", func() bool { return slices.Equal(c.partitionMeta("div", 0).ISR, []int32{1}) })
	for _, v := range []string{"only-on-1", "only-on-1"} {
		if code := produceOneRaw(t, c, 1, "div", 0, -1, v); code != 0 {
			t.Fatal(kerr.ErrorForCode(code))
		}
	}
	// 1 restarts: its registration replaces the old one, and it leads
	// again at a new epoch e1 — which no other replica will ever have.
	c.stop(1)
	c.start(1)
	e1 := c.partitionMeta("div", 0).LeaderEpoch
	if e1 <= e0 || c.partitionMeta("div", 0).Leader != 1 {
		t.Fatalf("after 1's restart: %+v, want leader 1 at an epoch above %d", c.partitionMeta("div", 0), e0)
	}
	eventually(t, "1 to lead again", func() bool { p := c.replica(1, "div", 0); return p != nil && p.IsLeader() })
	for _, v := range []string{"epoch-e1", "epoch-e1"} {
		if code := produceOneRaw(t, c, 1, "div", 0, -1, v); code != 0 {
			t.Fatal(kerr.ErrorForCode(code))
		}
	}
	if leo := c.replica(1, "div", 0).LogEndOffset(); leo != 10 {
		t.Fatalf("broker 1 LEO %d, want 10", leo)
	}

	// 1 goes away; 2 and 3 come back and 2 is elected uncleanly (its own
	// ISR), leading epoch e2 and writing offsets 5-8.
	c.stop(1)
	c.start(2)
	c.start(3)
	c.fence(1)
	pm := c.partitionMeta("div", 0)
	if pm.Leader != 2 {
		t.Fatalf("after fencing 1: %+v, want leader 2", pm)
	}
	eventually(t, "2 to lead", func() bool { p := c.replica(2, "div", 0); return p != nil && p.IsLeader() })
	for i := 0; i < 4; i++ {
		if code := produceOneRaw(t, c, 2, "div", 0, 1, fmt.Sprintf("epoch-e2-%d", i)); code != 0 {
			t.Fatal(kerr.ErrorForCode(code))
		}
	}

	// 1 returns as a follower. Its latest epoch e1 is unknown to 2, which
	// answers e0 ending at 5; 1's own e0 ends at 8: it truncates to 5 and
	// replicates 2's records.
	c.start(1)
	c.requireSameLogs("div", 0, 2, 9, 1, 3)
	p1 := c.replica(1, "div", 0)
	eventually(t, "1 to catch up", func() bool { return p1.LogEndOffset() == 9 })
	if got, want := p1.Log().EpochEntries(), c.replica(2, "div", 0).Log().EpochEntries(); !slices.Equal(got, want) {
		t.Fatalf("broker 1's epochs %v, leader's %v", got, want)
	}
	for _, e := range p1.Log().EpochEntries() {
		if e.Epoch == e1 {
			t.Fatalf("broker 1 still has epoch %d: %v", e1, p1.Log().EpochEntries())
		}
	}
}

// TestConsumersNeverReadAboveTheHighWatermark: records the leader has but
// an in-sync follower does not are invisible to consumers until the
// follower has them.
func TestConsumersNeverReadAboveTheHighWatermark(t *testing.T) {
	c := startCluster(t, 3, `"replica.lag.time.max.ms" = 60000
"replica.fetch.wait.max.ms" = 50`)
	c.createTopic("hw", [][]int32{{1, 2, 3}}, nil)
	all := c.client(kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	produceValues(t, all, "hw", 0, recordValues("committed", 10)...)

	// 3 stops but stays in the ISR (its lag allowance is a minute): acks=1
	// writes land on the leader and stay above the HW.
	c.stop(3)
	for i := 0; i < 5; i++ {
		if code := produceOneRaw(t, c, 1, "hw", 0, 1, fmt.Sprintf("pending-%d", i)); code != 0 {
			t.Fatal(kerr.ErrorForCode(code))
		}
	}
	leader := c.replica(1, "hw", 0)
	if leo, hw := leader.LogEndOffset(), leader.HighWatermark(); leo != 15 || hw != 10 {
		t.Fatalf("leader LEO %d HW %d, want 15 and 10", leo, hw)
	}

	// A raw fetch at the HW gets nothing, and the HW in the answer.
	cl := c.client(kgo.SeedBrokers(c.broker(1).Addr().String()))
	req := kmsg.NewPtrFetchRequest()
	req.MaxWaitMillis, req.MinBytes, req.MaxBytes = 100, 1, 1<<20
	id, _ := c.meta.Image().TopicByName("hw")
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic, rt.TopicID = "hw", id.ID
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.FetchOffset, rp.PartitionMaxBytes = 10, 1<<20
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	fp := resp.Topics[0].Partitions[0]
	if fp.ErrorCode != 0 || fp.HighWatermark != 10 || len(fp.RecordBatches) != 0 {
		t.Fatalf("fetch at the HW: error %d HW %d %d record bytes", fp.ErrorCode, fp.HighWatermark, len(fp.RecordBatches))
	}

	// A consumer gets exactly the ten committed records, however long it
	// polls, and the rest once 3 is back and has them.
	cons := c.client(kgo.ConsumeTopics("hw"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(50*time.Millisecond))
	seen := map[int64]string{}
	poll := func(d time.Duration) {
		pctx, pcancel := context.WithTimeout(ctx, d)
		defer pcancel()
		fs := cons.PollFetches(pctx)
		fs.EachRecord(func(r *kgo.Record) {
			if hw := leader.HighWatermark(); r.Offset >= hw {
				t.Fatalf("consumer got offset %d at HW %d", r.Offset, hw)
			}
			seen[r.Offset] = string(r.Value)
		})
	}
	for len(seen) < 10 && ctx.Err() == nil {
		poll(time.Second)
	}
	for i := 0; i < 5; i++ {
		poll(100 * time.Millisecond)
	}
	if len(seen) != 10 {
		t.Fatalf("consumer saw %d records with the HW at 10", len(seen))
	}
	c.start(3)
	for len(seen) < 15 && ctx.Err() == nil {
		poll(time.Second)
	}
	if len(seen) != 15 || seen[14] != "pending-4" {
		t.Fatalf("after 3 caught up the consumer saw %d records (offset 14: %q)", len(seen), seen[14])
	}
}

// TestClientsFollowLeaderChanges: a franz-go producer and consumer keep
// working across leader moves — the old leader gone, and the old leader
// alive answering NOT_LEADER_OR_FOLLOWER — with every record produced
// once, in order.
func TestClientsFollowLeaderChanges(t *testing.T) {
	c := startCluster(t, 3, clusterTOML)
	c.createTopic("move", [][]int32{{1, 2, 3}}, map[string]string{"min.insync.replicas": "2"})
	prod := c.client(kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	cons := c.client(kgo.ConsumeTopics("move"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var got []string
	consume := func(n int) {
		t.Helper()
		for len(got) < n {
			fs := cons.PollFetches(ctx)
			if ctx.Err() != nil {
				t.Fatalf("consumed %d of %d: %v", len(got), n, ctx.Err())
			}
			fs.EachRecord(func(r *kgo.Record) {
				if r.Offset != int64(len(got)) {
					t.Fatalf("record at offset %d after %d records", r.Offset, len(got))
				}
				got = append(got, string(r.Value))
			})
		}
	}
	produceValues(t, prod, "move", 0, recordValues("one", 30)...)
	consume(30)

	// The leader goes away; the controller moves leadership to 2.
	e := c.partitionMeta("move", 0).LeaderEpoch
	c.stop(1)
	c.fence(1)
	if pm := c.partitionMeta("move", 0); pm.Leader != 2 || pm.LeaderEpoch != e+1 {
		t.Fatalf("after fencing 1: %+v", pm)
	}
	produceValues(t, prod, "move", 0, recordValues("two", 30)...)
	consume(60)

	// 1 comes back as a follower, rejoins the ISR, and a preferred-leader
	// election moves leadership back while 2 still serves: clients are
	// turned away with the new leader and follow.
	c.start(1)
	eventually(t, "1 to rejoin the ISR", func() bool { return slices.Contains(c.partitionMeta("move", 0).ISR, 1) })
	id, _ := c.meta.Image().TopicByName("move")
	c.submit(&controller.ElectLeaders{Partitions: []controller.TopicPartition{{TopicID: id.ID, Partition: 0}}})
	if pm := c.partitionMeta("move", 0); pm.Leader != 1 {
		t.Fatalf("after the preferred election: %+v", pm)
	}
	produceValues(t, prod, "move", 0, recordValues("three", 30)...)
	consume(90)
	for i, v := range got {
		if want := fmt.Sprintf("%s-%d", []string{"one", "two", "three"}[i/30], i%30); v != want {
			t.Fatalf("record %d is %q, want %q", i, v, want)
		}
	}
	c.requireSameLogs("move", 0, 1, 90, 2, 3)
}

// TestGroupCoordinatorFollowsOffsetsLeadership: the coordinator of a group
// is the leader of its __consumer_offsets partition; when leadership
// moves, the new leader loads the groups and the committed offsets are
// still there, and the old one turns requests away.
func TestGroupCoordinatorFollowsOffsetsLeadership(t *testing.T) {
	c := startCluster(t, 3, clusterTOML)
	c.createTopic("data", [][]int32{{1, 2, 3}}, nil)
	// kgo keeps a group's coordinator until it answers NOT_COORDINATOR; a
	// coordinator that is gone only fails to dial. So each phase starts a
	// client that looks the coordinator up afresh.
	adm := kadm.NewClient(c.client())
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	commit := func(at int64) {
		t.Helper()
		var os kadm.Offsets
		os.Add(kadm.Offset{Topic: "data", Partition: 0, At: at, LeaderEpoch: -1})
		eventually(t, fmt.Sprintf("committing offset %d", at), func() bool {
			resp, err := adm.CommitOffsets(ctx, "g", os)
			return err == nil && resp.Error() == nil
		})
	}
	fetched := func() int64 {
		resp, err := adm.FetchOffsets(ctx, "g")
		if err != nil || resp.Error() != nil {
			return -1
		}
		o, ok := resp.Lookup("data", 0)
		if !ok {
			return -1
		}
		return o.At
	}
	commit(7)
	part := group.PartitionFor("g", 3)
	first := c.partitionMeta(group.OffsetsTopic, part)
	if len(first.Replicas) != 3 {
		t.Fatalf("%s-%d replicas %v, want three", group.OffsetsTopic, part, first.Replicas)
	}
	c.requireSameLogs(group.OffsetsTopic, part, first.Leader, 1, first.Replicas...)

	// The coordinator's broker goes away: the next leader loads the group.
	c.stop(first.Leader)
	c.fence(first.Leader)
	second := c.partitionMeta(group.OffsetsTopic, part)
	if second.Leader < 0 || second.Leader == first.Leader {
		t.Fatalf("after fencing %d: %+v", first.Leader, second)
	}
	adm = kadm.NewClient(c.client())
	eventually(t, "the new coordinator to answer offset 7", func() bool { return fetched() == 7 })
	commit(9)

	// The old coordinator comes back as a follower and turns the group
	// away; then leadership moves once more and offset 9 survives.
	c.start(first.Leader)
	eventually(t, "the old leader to rejoin the ISR", func() bool {
		return slices.Contains(c.partitionMeta(group.OffsetsTopic, part).ISR, first.Leader)
	})
	of := kmsg.NewPtrOffsetFetchRequest()
	of.Group = "g" // v0-v7
	og := kmsg.NewOffsetFetchRequestGroup()
	og.Group = "g" // v8+
	of.Groups = append(of.Groups, og)
	oldCl := c.client(kgo.SeedBrokers(c.broker(first.Leader).Addr().String()))
	resp, err := oldCl.Broker(int(first.Leader)).Request(ctx, of)
	if err != nil {
		t.Fatal(err)
	}
	ofr := resp.(*kmsg.OffsetFetchResponse)
	code := ofr.ErrorCode
	if len(ofr.Groups) == 1 {
		code = ofr.Groups[0].ErrorCode
	}
	if code != kerr.NotCoordinator.Code {
		t.Fatalf("OffsetFetch at the old coordinator: %v, want NOT_COORDINATOR", kerr.ErrorForCode(code))
	}
	c.stop(second.Leader)
	c.fence(second.Leader)
	third := c.partitionMeta(group.OffsetsTopic, part)
	if third.Leader < 0 || third.Leader == second.Leader {
		t.Fatalf("after fencing %d: %+v", second.Leader, third)
	}
	adm = kadm.NewClient(c.client())
	eventually(t, "the third coordinator to answer offset 9", func() bool { return fetched() == 9 })
}

// send sends req straight to broker id (at the newest version both sides
// have) and returns the response.
func (c *testCluster) send(t *testing.T, id int32, req kmsg.Request) kmsg.Response {
	t.Helper()
	cl := c.client(kgo.SeedBrokers(c.broker(id).Addr().String()))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp, err := cl.SeedBrokers()[0].Request(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// TestNonLeadersAnswerWithTheLeader: produce, fetch, ListOffsets and
// OffsetForLeaderEpoch only work on the leader; elsewhere produce and
// fetch name the current leader and its endpoint (KIP-951), and a stale
// or future leader epoch is fenced (KIP-320).
func TestNonLeadersAnswerWithTheLeader(t *testing.T) {
	c := startCluster(t, 3, clusterTOML)
	id := c.createTopic("hint", [][]int32{{1, 2, 3}}, nil)
	all := c.client(kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	produceValues(t, all, "hint", 0, recordValues("x", 3)...)
	leaderID, leaderPort := int32(1), int32(c.broker(1).Addr().(*net.TCPAddr).Port)

	fetch := func(to int32, epoch int32) kmsg.FetchResponseTopicPartition {
		req := kmsg.NewPtrFetchRequest()
		req.MaxWaitMillis, req.MaxBytes = 10, 1<<20
		rt := kmsg.NewFetchRequestTopic()
		rt.Topic, rt.TopicID = "hint", id
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.CurrentLeaderEpoch, rp.PartitionMaxBytes = epoch, 1<<20
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp := c.send(t, to, req).(*kmsg.FetchResponse)
		if resp.Version < 16 {
			t.Fatalf("fetch v%d; the test wants v16+", resp.Version)
		}
		if p := resp.Topics[0].Partitions[0]; p.ErrorCode != 0 && to != leaderID {
			if len(resp.Brokers) != 1 || resp.Brokers[0].NodeID != leaderID || resp.Brokers[0].Port != leaderPort {
				t.Errorf("fetch from %d: node endpoints %+v, want broker %d at port %d", to, resp.Brokers, leaderID, leaderPort)
			}
		}
		return resp.Topics[0].Partitions[0]
	}
	e := c.partitionMeta("hint", 0).LeaderEpoch
	if p := fetch(1, e); p.ErrorCode != 0 || p.HighWatermark != 3 || len(p.RecordBatches) == 0 {
		t.Fatalf("fetch from the leader: %v HW %d", kerr.ErrorForCode(p.ErrorCode), p.HighWatermark)
	}
	p := fetch(2, e)
	if p.ErrorCode != kerr.NotLeaderForPartition.Code || p.CurrentLeader.LeaderID != 1 || p.CurrentLeader.LeaderEpoch != e {
		t.Fatalf("fetch from a follower: %v, current leader %+v", kerr.ErrorForCode(p.ErrorCode), p.CurrentLeader)
	}
	if p := fetch(1, e+1); p.ErrorCode != kerr.UnknownLeaderEpoch.Code {
		t.Fatalf("fetch with a future epoch: %v", kerr.ErrorForCode(p.ErrorCode))
	}

	// Produce to a follower: NOT_LEADER_OR_FOLLOWER, with the leader.
	bld := record.NewBuilder(record.BuilderOptions{})
	bld.Append(nil, []byte("v"), time.Now().UnixMilli(), nil)
	batch, _ := bld.Build(nil)
	preq := kmsg.NewPtrProduceRequest()
	preq.Acks, preq.TimeoutMillis = -1, 5000
	pt := kmsg.NewProduceRequestTopic()
	pt.Topic = "hint"
	pp := kmsg.NewProduceRequestTopicPartition()
	pp.Records = batch
	pt.Partitions = append(pt.Partitions, pp)
	preq.Topics = append(preq.Topics, pt)
	presp := c.send(t, 3, preq).(*kmsg.ProduceResponse)
	sp := presp.Topics[0].Partitions[0]
	if sp.ErrorCode != kerr.NotLeaderForPartition.Code || sp.CurrentLeader.LeaderID != 1 || sp.CurrentLeader.LeaderEpoch != e ||
		len(presp.Brokers) != 1 || presp.Brokers[0].NodeID != 1 || presp.Brokers[0].Port != leaderPort {
		t.Fatalf("produce to a follower (v%d): %v, leader %+v, brokers %+v", presp.Version, kerr.ErrorForCode(sp.ErrorCode), sp.CurrentLeader, presp.Brokers)
	}

	// ListOffsets and OffsetForLeaderEpoch: the leader answers, a follower
	// does not.
	lreq := kmsg.NewPtrListOffsetsRequest()
	lt := kmsg.NewListOffsetsRequestTopic()
	lt.Topic = "hint"
	lp := kmsg.NewListOffsetsRequestTopicPartition()
	lp.Timestamp = -1
	lt.Partitions = append(lt.Partitions, lp)
	lreq.Topics = append(lreq.Topics, lt)
	if p := c.send(t, 2, lreq).(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0]; p.ErrorCode != kerr.NotLeaderForPartition.Code {
		t.Fatalf("ListOffsets at a follower: %v", kerr.ErrorForCode(p.ErrorCode))
	}
	if p := c.send(t, 1, lreq).(*kmsg.ListOffsetsResponse).Topics[0].Partitions[0]; p.ErrorCode != 0 || p.Offset != 3 {
		t.Fatalf("ListOffsets at the leader: %v offset %d", kerr.ErrorForCode(p.ErrorCode), p.Offset)
	}
	oreq := kmsg.NewPtrOffsetForLeaderEpochRequest()
	ot := kmsg.NewOffsetForLeaderEpochRequestTopic()
	ot.Topic = "hint"
	op := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
	op.CurrentLeaderEpoch, op.LeaderEpoch = e, e
	ot.Partitions = append(ot.Partitions, op)
	oreq.Topics = append(oreq.Topics, ot)
	if p := c.send(t, 3, oreq).(*kmsg.OffsetForLeaderEpochResponse).Topics[0].Partitions[0]; p.ErrorCode != kerr.NotLeaderForPartition.Code {
		t.Fatalf("OffsetForLeaderEpoch at a follower: %v", kerr.ErrorForCode(p.ErrorCode))
	}
	if p := c.send(t, 1, oreq).(*kmsg.OffsetForLeaderEpochResponse).Topics[0].Partitions[0]; p.ErrorCode != 0 || p.LeaderEpoch != e || p.EndOffset != 3 {
		t.Fatalf("OffsetForLeaderEpoch at the leader: %v epoch %d end %d", kerr.ErrorForCode(p.ErrorCode), p.LeaderEpoch, p.EndOffset)
	}

	// Leadership moves to 2 at a new epoch: the old epoch is fenced there,
	// and the old leader turns clients to 2.
	c.stop(1)
	c.fence(1)
	e2 := c.partitionMeta("hint", 0).LeaderEpoch
	eventually(t, "2 to lead", func() bool { return c.replica(2, "hint", 0).IsLeader() })
	c.start(1)
	leaderID, leaderPort = 2, int32(c.broker(2).Addr().(*net.TCPAddr).Port)
	eventually(t, "1 to follow 2", func() bool { return c.replica(1, "hint", 0).LeaderEpoch() == e2 })
	if p := fetch(2, e); p.ErrorCode != kerr.FencedLeaderEpoch.Code || p.CurrentLeader.LeaderID != 2 || p.CurrentLeader.LeaderEpoch != e2 {
		t.Fatalf("fetch with the old epoch: %v, leader %+v", kerr.ErrorForCode(p.ErrorCode), p.CurrentLeader)
	}
	if p := fetch(1, e2); p.ErrorCode != kerr.NotLeaderForPartition.Code || p.CurrentLeader.LeaderID != 2 {
		t.Fatalf("fetch from the old leader: %v, leader %+v", kerr.ErrorForCode(p.ErrorCode), p.CurrentLeader)
	}
}

// TestReplicaFetcherDialsThroughOptionsDial: followers reach leaders
// through Options.Dial, so a test (or the chaos harness's proxies) can cut
// a broker off: cut, the follower falls out of the ISR; healed, it
// catches up and rejoins.
func TestReplicaFetcherDialsThroughOptionsDial(t *testing.T) {
	c := startCluster(t, 2, clusterTOML)
	c.createTopic("cut", [][]int32{{1, 2}}, nil)
	all := c.client(kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	produceValues(t, all, "cut", 0, recordValues("before", 5)...)
	d := c.node(2).dialer
	if d.count() == 0 {
		t.Fatal("broker 2 replicated without dialing through Options.Dial")
	}
	d.setCut(true)
	for i := 0; i < 3; i++ {
		if code := produceOneRaw(t, c, 1, "cut", 0, 1, "during"); code != 0 {
			t.Fatal(kerr.ErrorForCode(code))
		}
	}
	eventually(t, "the cut-off follower to leave the ISR", func() bool {
		return slices.Equal(c.partitionMeta("cut", 0).ISR, []int32{1})
	})
	if leo := c.replica(2, "cut", 0).LogEndOffset(); leo != 5 {
		t.Fatalf("the cut-off follower has LEO %d, want 5", leo)
	}
	d.setCut(false)
	eventually(t, "the follower to rejoin the ISR", func() bool {
		return slices.Equal(c.partitionMeta("cut", 0).ISR, []int32{1, 2})
	})
	c.requireSameLogs("cut", 0, 1, 8, 2)
}

// TestFollowerBehindTheLeadersLogStartStartsOver: a follower that comes
// back after the leader deleted the records it would fetch next (here by
// DeleteRecords, inside a batch) gets OFFSET_OUT_OF_RANGE, empties its log
// and starts over at the leader's log start.
func TestFollowerBehindTheLeadersLogStartStartsOver(t *testing.T) {
	c := startCluster(t, 3, clusterTOML)
	c.createTopic("gone", [][]int32{{1, 2, 3}}, nil)
	all := c.client(kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	produceValues(t, all, "gone", 0, recordValues("early", 10)...)
	c.requireSameLogs("gone", 0, 1, 10, 3)
	c.stop(3)
	produceValues(t, all, "gone", 0, recordValues("late", 10)...) // one batch, offsets 10-19
	eventually(t, "the ISR to shrink to [1 2]", func() bool { return slices.Equal(c.partitionMeta("gone", 0).ISR, []int32{1, 2}) })

	adm := kadm.NewClient(c.client())
	var del kadm.Offsets
	del.Add(kadm.Offset{Topic: "gone", Partition: 0, At: 15})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp, err := adm.DeleteRecords(ctx, del)
	if err != nil || resp.Error() != nil {
		t.Fatalf("DeleteRecords: %v %v", err, resp.Error())
	}
	if start := c.replica(1, "gone", 0).LogStartOffset(); start != 15 {
		t.Fatalf("leader log start %d, want 15", start)
	}
	c.start(3)
	eventually(t, "broker 3 to rejoin the ISR", func() bool { return slices.Contains(c.partitionMeta("gone", 0).ISR, 3) })
	p3 := c.replica(3, "gone", 0)
	eventually(t, "broker 3 to follow the log start", func() bool { return p3.LogStartOffset() == 15 && p3.LogEndOffset() == 20 })
	// From the batch holding offset 15 on, broker 3's log is the leader's.
	lp := c.replica(1, "gone", 0)
	want, err := batchesUpTo(lp, 20)
	if err != nil {
		t.Fatal(err)
	}
	got, err := batchesUpTo(p3, 20)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("broker 3 from its log start: %v\n%s\nleader:\n%s", err, describeBatches(got), describeBatches(want))
	}
}

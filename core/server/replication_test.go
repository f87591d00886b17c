package server

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirmq/weir/core/record"
)

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


// Replication across three in-process brokers sharing one controller.Local
// (cluster_harness_test.go), with real franz-go clients.

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
	// ISR through the controller, and acks=all goes on with two.
	c.stop(3)
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

package group

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirmq/weir/core/record"
)

// TestLoadKafkaRecords loads records of every version Kafka has written
// (and some it never should have): each is read as Kafka reads it, and
// what cannot be read is skipped.
func TestLoadKafkaRecords(t *testing.T) {
	ts := t0.UnixMilli()
	offKey := func(version int16, group, topic string, p int32) []byte {
		k := kmsg.NewOffsetCommitKey()
		k.Version, k.Group, k.Topic, k.Partition = version, group, topic, p
		return k.AppendTo(nil)
	}
	offVal := func(version int16, offset int64, epoch int32, expire int64) []byte {
		v := kmsg.NewOffsetCommitValue()
		v.Version, v.Offset, v.LeaderEpoch, v.Metadata, v.CommitTimestamp, v.ExpireTimestamp = version, offset, epoch, "md", ts, expire
		return v.AppendTo(nil)
	}
	groupVal := func(version int16, gen int32, instance *string) []byte {
		v := kmsg.NewGroupMetadataValue()
		v.Version, v.ProtocolType, v.Generation = version, "consumer", gen
		v.Protocol, v.Leader = kmsg.StringPtr("range"), kmsg.StringPtr("m1")
		m := kmsg.NewGroupMetadataValueMember()
		m.MemberID, m.InstanceID, m.ClientID, m.ClientHost = "m1", instance, "c", "/10.0.0.1"
		m.SessionTimeoutMillis, m.RebalanceTimeoutMillis = 20_000, 40_000
		m.Subscription, m.Assignment = consumerMeta("orders"), []byte("A")
		v.Members = []kmsg.GroupMetadataValueMember{m}
		return v.AppendTo(nil)
	}
	store := &memStorage{}
	write := func(recs []kv, opts record.BuilderOptions) {
		b := record.NewBuilder(opts)
		for _, r := range recs {
			b.Append(r.key, r.value, ts, nil)
		}
		batch, err := b.Build(nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := store.Append(t.Context(), batch); err != nil {
			t.Fatal(err)
		}
	}
	write([]kv{
		{offKey(0, "simple", "t", 0), offVal(0, 3, 0, 0)},
		{offKey(1, "simple", "t", 1), offVal(1, 4, 0, ts+int64(time.Hour/time.Millisecond)*3)},
		{offKey(1, "simple", "t", 2), offVal(3, 5, 7, 0)},
		{offKey(1, "simple", "t", 3), offVal(3, 6, 0, 0)},
		{offKey(1, "simple", "t", 3), nil}, // deleted again
		{groupKey("g0"), groupVal(0, 4, nil)},
		{groupKey("g3"), groupVal(3, 9, kmsg.StringPtr("inst"))},
		{groupKey("gone"), groupVal(3, 2, nil)},
		{groupKey("gone"), nil},
		{[]byte{0, 3, 1, 2, 3}, []byte("a KIP-848 record: skipped")},
		{offKey(1, "simple", "bad", 0), []byte{0, 3}}, // does not decode: skipped
		{[]byte{0}, nil}, // key too short: skipped
	}, record.BuilderOptions{})
	write([]kv{{offKey(1, "simple", "t", 0), offVal(3, 99, 0, 0)}}, record.BuilderOptions{Control: true})

	f := newFixture(t, store)
	for p, want := range map[int32]int64{0: 3, 1: 4, 2: 5, 3: -1} {
		got, _ := f.c.FetchOffsets("simple", []OffsetFetchTopic{{Topic: "t", Partitions: []int32{p}}}, false)
		if got[0].Offset != want {
			t.Errorf("partition %d: offset %d, want %d", p, got[0].Offset, want)
		}
		if p == 2 && got[0].LeaderEpoch != 7 {
			t.Errorf("partition 2: leader epoch %d, want 7", got[0].LeaderEpoch)
		}
	}
	for _, c := range []struct {
		group    string
		gen      int32
		instance bool
	}{{"g0", 4, false}, {"g3", 9, true}} {
		f.group(c.group, func(g *group) {
			if g == nil {
				t.Fatalf("%s not loaded", c.group)
			}
			m := g.members["m1"]
			if g.state != stateStable || g.generation != c.gen || g.leader != "m1" || m == nil || string(m.assignment) != "A" {
				t.Fatalf("%s loaded as %v generation %d leader %s", c.group, g.state, g.generation, g.leader)
			}
			if (g.static["inst"] == "m1") != c.instance || m.rebalanceTimeout != map[bool]time.Duration{false: 20 * time.Second, true: 40 * time.Second}[c.instance] {
				t.Errorf("%s: static %v, rebalance timeout %v", c.group, g.static, m.rebalanceTimeout)
			}
		})
	}
	f.group("gone", func(g *group) {
		if g != nil {
			t.Error("a group deleted by a tombstone was loaded")
		}
	})
	// A commit that asked for its own retention expires then, not after
	// offsets.retention.minutes.
	offset := func(p int32) int64 {
		got, _ := f.c.FetchOffsets("simple", []OffsetFetchTopic{{Topic: "t", Partitions: []int32{p}}}, false)
		return got[0].Offset
	}
	f.clock.Advance(61 * time.Minute)
	if offset(0) != -1 || offset(1) != 4 {
		t.Errorf("after an hour: offsets %d and %d, want -1 and 4", offset(0), offset(1))
	}
	f.clock.Advance(2 * time.Hour)
	if offset(1) != -1 {
		t.Errorf("offset with an expire timestamp: %d after it", offset(1))
	}
}

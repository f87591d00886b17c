package controller

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// three returns brokers 1, 2 and 3 (epochs 2, 3, 4) and two topics: "t"
// (ID 7; partition 0 on [1 2 3], partition 1 on [2 3 1]) and "solo" (ID 8;
// partition 0 on [1]).
func three(t testing.TB, cmds ...Command) *Image {
	img := mustApply(t, NewImage(),
		InitCluster{ClusterID: "c1"},
		RegisterBroker{ID: 1, Host: "h1", Port: 9092},
		RegisterBroker{ID: 2, Host: "h2", Port: 9092},
		RegisterBroker{ID: 3, Host: "h3", Port: 9092},
		CreateTopic{Name: "t", ID: id(7), Partitions: []PartitionAssignment{{Replicas: []int32{1, 2, 3}}, {Replicas: []int32{2, 3, 1}}}},
		CreateTopic{Name: "solo", ID: id(8), Partitions: []PartitionAssignment{{Replicas: []int32{1}}}},
	)
	return mustApply(t, img, cmds...)
}

// epoch returns broker id's registration epoch.
func epoch(img *Image, id int32) int64 {
	b, _ := img.Broker(id)
	return b.Epoch
}

// part returns partition p of topic tid, failing the test when missing.
func part(t testing.TB, img *Image, tid TopicID, p int32) Partition {
	t.Helper()
	got, ok := img.Partition(tid, p)
	if !ok {
		t.Fatalf("no partition %s-%d", tid, p)
	}
	return got
}

// wantPart compares a partition with the expected one.
func wantPart(t testing.TB, img *Image, tid TopicID, p int32, want Partition) {
	t.Helper()
	if got := part(t, img, tid, p); !reflect.DeepEqual(got, want) {
		t.Errorf("partition %d:\n got %+v\nwant %+v", p, got, want)
	}
}

// fence fences broker b at its current epoch.
func fence(img *Image, b int32) FenceBroker { return FenceBroker{ID: b, Epoch: epoch(img, b)} }

// applyEach applies a command built from the image at each step.
func applyEach(t testing.TB, img *Image, build ...func(img *Image) Command) *Image {
	t.Helper()
	for _, b := range build {
		img = mustApply(t, img, b(img))
	}
	return img
}

func fenceOf(b int32) func(*Image) Command { return func(img *Image) Command { return fence(img, b) } }
func unfenceOf(b int32) func(*Image) Command {
	return func(img *Image) Command { return UnfenceBroker{ID: b, Epoch: epoch(img, b)} }
}
func shutdownOf(b int32) func(*Image) Command {
	return func(img *Image) Command { return ControlledShutdown{ID: b, Epoch: epoch(img, b)} }
}

func TestFenceBroker(t *testing.T) {
	base := three(t)
	img := mustApply(t, base, fence(base, 1))
	if b, _ := img.Broker(1); !b.Fenced || b.Live() {
		t.Errorf("broker 1 %+v, want fenced", b)
	}
	// Led by 1: the next replica in the ISR leads, at a new leader epoch.
	wantPart(t, img, id(7), 0, Partition{Replicas: []int32{1, 2, 3}, ISR: []int32{2, 3}, Leader: 2, LeaderEpoch: 1, PartitionEpoch: 1})
	// Followed by 1: it leaves the ISR; the leader epoch stays.
	wantPart(t, img, id(7), 1, Partition{Replicas: []int32{2, 3, 1}, ISR: []int32{2, 3}, Leader: 2, LeaderEpoch: 0, PartitionEpoch: 1})
	// 1 is the last ISR member: leaderless, the ISR kept.
	wantPart(t, img, id(8), 0, Partition{Replicas: []int32{1}, ISR: []int32{1}, Leader: -1, LeaderEpoch: 1, PartitionEpoch: 1})

	// Fencing again changes nothing but the offset.
	again := mustApply(t, img, fence(img, 1))
	if again.Offset() != img.Offset()+1 || !reflect.DeepEqual(again.Topics(), img.Topics()) {
		t.Errorf("fencing twice changed the topics")
	}

	// The ISR member with the lowest replica position is chosen, not the
	// lowest ID: partition 1's ISR after fencing 2 is [3].
	img = applyEach(t, img, fenceOf(2))
	wantPart(t, img, id(7), 0, Partition{Replicas: []int32{1, 2, 3}, ISR: []int32{3}, Leader: 3, LeaderEpoch: 2, PartitionEpoch: 2})
	wantPart(t, img, id(7), 1, Partition{Replicas: []int32{2, 3, 1}, ISR: []int32{3}, Leader: 3, LeaderEpoch: 1, PartitionEpoch: 2})

	// Every replica fenced: leaderless, the last member stays in the ISR.
	img = applyEach(t, img, fenceOf(3))
	wantPart(t, img, id(7), 0, Partition{Replicas: []int32{1, 2, 3}, ISR: []int32{3}, Leader: -1, LeaderEpoch: 3, PartitionEpoch: 3})

	// A replica outside the ISR coming back does not lead (no unclean
	// election by default)...
	img = applyEach(t, img, unfenceOf(1))
	wantPart(t, img, id(7), 0, Partition{Replicas: []int32{1, 2, 3}, ISR: []int32{3}, Leader: -1, LeaderEpoch: 3, PartitionEpoch: 3})
	// ...but it leads where it is the last ISR member.
	wantPart(t, img, id(8), 0, Partition{Replicas: []int32{1}, ISR: []int32{1}, Leader: 1, LeaderEpoch: 2, PartitionEpoch: 2})
	// The ISR's member coming back leads.
	img = applyEach(t, img, unfenceOf(3))
	wantPart(t, img, id(7), 0, Partition{Replicas: []int32{1, 2, 3}, ISR: []int32{3}, Leader: 3, LeaderEpoch: 4, PartitionEpoch: 4})
}

func TestFenceBrokerErrors(t *testing.T) {
	img := three(t)
	for _, tc := range []struct {
		cmd  Command
		want error
		msg  string
	}{
		{FenceBroker{ID: 9, Epoch: 1}, ErrUnknownBroker, "broker 9 is not registered"},
		{FenceBroker{ID: 1, Epoch: 1}, ErrStaleBrokerEpoch, "broker 1 epoch 1 is not its current registration (epoch 2)"},
		{UnfenceBroker{ID: 2, Epoch: 99}, ErrStaleBrokerEpoch, "broker 2"},
		{ControlledShutdown{ID: 4, Epoch: 1}, ErrUnknownBroker, "broker 4"},
		{(*FenceBroker)(nil), ErrInvalidCommand, "nil"},
	} {
		next, _, err := img.Apply(tc.cmd)
		if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) || next != img {
			t.Errorf("Apply(%#v) = %v; want %v containing %q and the image unchanged", tc.cmd, err, tc.want, tc.msg)
		}
	}
	// A fence for a registration that has been replaced does nothing.
	old := fence(img, 2)
	img = mustApply(t, img, RegisterBroker{ID: 2, Host: "h2", Port: 9092})
	if _, _, err := img.Apply(old); !errors.Is(err, ErrStaleBrokerEpoch) {
		t.Errorf("fence of the old registration: %v", err)
	}
}

func TestUncleanElectionOnFence(t *testing.T) {
	// Partition 0 of "t" with ISR [1]: 2 and 3 have fallen behind.
	shrunk := func(t *testing.T, cmds ...Command) *Image {
		img := three(t, cmds...)
		return mustApply(t, img, AlterPartition{TopicID: id(7), Partition: 0, BrokerID: 1, BrokerEpoch: epoch(img, 1), ISR: []int32{1}})
	}
	for _, tc := range []struct {
		name string
		cmds []Command
		want Partition
	}{
		{"disabled by default", nil,
			Partition{Replicas: []int32{1, 2, 3}, ISR: []int32{1}, Leader: -1, LeaderEpoch: 1, PartitionEpoch: 2}},
		{"topic override", []Command{AlterTopicConfigs{TopicID: id(7), Set: map[string]string{"unclean.leader.election.enable": "true"}}},
			Partition{Replicas: []int32{1, 2, 3}, ISR: []int32{2}, Leader: 2, LeaderEpoch: 1, PartitionEpoch: 2}},
		{"dynamic broker default", []Command{AlterBrokerConfigs{Set: map[string]string{"unclean.leader.election.enable": "true"}}},
			Partition{Replicas: []int32{1, 2, 3}, ISR: []int32{2}, Leader: 2, LeaderEpoch: 1, PartitionEpoch: 2}},
		{"topic false beats broker true", []Command{
			AlterBrokerConfigs{Set: map[string]string{"unclean.leader.election.enable": "true"}},
			AlterTopicConfigs{TopicID: id(7), Set: map[string]string{"unclean.leader.election.enable": "false"}}},
			Partition{Replicas: []int32{1, 2, 3}, ISR: []int32{1}, Leader: -1, LeaderEpoch: 1, PartitionEpoch: 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img := shrunk(t, tc.cmds...)
			img = mustApply(t, img, fence(img, 1))
			wantPart(t, img, id(7), 0, tc.want)
		})
	}
	// Controlled shutdown never elects uncleanly.
	img := shrunk(t, AlterTopicConfigs{TopicID: id(7), Set: map[string]string{"unclean.leader.election.enable": "true"}})
	img = applyEach(t, img, shutdownOf(1))
	wantPart(t, img, id(7), 0, Partition{Replicas: []int32{1, 2, 3}, ISR: []int32{1}, Leader: -1, LeaderEpoch: 1, PartitionEpoch: 2})
	// A leaderless partition is elected uncleanly when a replica comes
	// back and the topic allows it.
	img = mustApply(t, three(t), AlterPartition{TopicID: id(7), Partition: 0, BrokerID: 1, BrokerEpoch: 2, ISR: []int32{1}})
	img = applyEach(t, img, fenceOf(2), fenceOf(3), fenceOf(1))
	wantPart(t, img, id(7), 0, Partition{Replicas: []int32{1, 2, 3}, ISR: []int32{1}, Leader: -1, LeaderEpoch: 1, PartitionEpoch: 2})
	img = mustApply(t, img, AlterTopicConfigs{TopicID: id(7), Set: map[string]string{"unclean.leader.election.enable": "true"}})
	img = applyEach(t, img, unfenceOf(3))
	wantPart(t, img, id(7), 0, Partition{Replicas: []int32{1, 2, 3}, ISR: []int32{3}, Leader: 3, LeaderEpoch: 2, PartitionEpoch: 3})
}

func TestRegisterAgain(t *testing.T) {
	base := three(t)
	// A restart before the session expired: the old incarnation's
	// leaderships end; the replicas stay.
	img := mustApply(t, base, RegisterBroker{ID: 1, Host: "h1", Port: 9092})
	if b, _ := img.Broker(1); b.Epoch != img.Offset() || !b.Live() {
		t.Errorf("broker 1 %+v", b)
	}
	if epoch(img, 1) == epoch(base, 1) {
		t.Error("registering again kept the broker epoch")
	}
	wantPart(t, img, id(7), 0, Partition{Replicas: []int32{1, 2, 3}, ISR: []int32{2, 3}, Leader: 2, LeaderEpoch: 1, PartitionEpoch: 1})
	wantPart(t, img, id(7), 1, Partition{Replicas: []int32{2, 3, 1}, ISR: []int32{2, 3}, Leader: 2, LeaderEpoch: 0, PartitionEpoch: 1})
	// The last ISR member leads again, at a new leader epoch.
	wantPart(t, img, id(8), 0, Partition{Replicas: []int32{1}, ISR: []int32{1}, Leader: 1, LeaderEpoch: 1, PartitionEpoch: 1})

	// Registering after being fenced: leaderless partitions come back.
	img = applyEach(t, base, fenceOf(1))
	img = mustApply(t, img, RegisterBroker{ID: 1, Host: "h1b", Port: 9093})
	wantPart(t, img, id(8), 0, Partition{Replicas: []int32{1}, ISR: []int32{1}, Leader: 1, LeaderEpoch: 2, PartitionEpoch: 2})
	wantPart(t, img, id(7), 0, Partition{Replicas: []int32{1, 2, 3}, ISR: []int32{2, 3}, Leader: 2, LeaderEpoch: 1, PartitionEpoch: 1})
}

func TestUnfenceBroker(t *testing.T) {
	img := applyEach(t, three(t), fenceOf(1))
	img = applyEach(t, img, unfenceOf(1))
	if b, _ := img.Broker(1); b.Fenced {
		t.Errorf("broker 1 still fenced")
	}
	wantPart(t, img, id(8), 0, Partition{Replicas: []int32{1}, ISR: []int32{1}, Leader: 1, LeaderEpoch: 2, PartitionEpoch: 2})
	// Unfencing a live broker changes nothing.
	again := applyEach(t, img, unfenceOf(1))
	if !reflect.DeepEqual(again.Topics(), img.Topics()) {
		t.Error("unfencing a live broker changed the topics")
	}
	// A broker in controlled shutdown that is unfenced still leads nothing.
	img = applyEach(t, three(t), shutdownOf(1), fenceOf(1), unfenceOf(1))
	if b, _ := img.Broker(1); b.Fenced || !b.InControlledShutdown || b.Live() {
		t.Errorf("broker 1 %+v", b)
	}
	wantPart(t, img, id(8), 0, Partition{Replicas: []int32{1}, ISR: []int32{1}, Leader: -1, LeaderEpoch: 1, PartitionEpoch: 1})
}

func TestControlledShutdown(t *testing.T) {
	img := applyEach(t, three(t), shutdownOf(1))
	if b, _ := img.Broker(1); !b.InControlledShutdown || b.Fenced || b.Live() {
		t.Errorf("broker 1 %+v", b)
	}
	wantPart(t, img, id(7), 0, Partition{Replicas: []int32{1, 2, 3}, ISR: []int32{2, 3}, Leader: 2, LeaderEpoch: 1, PartitionEpoch: 1})
	wantPart(t, img, id(7), 1, Partition{Replicas: []int32{2, 3, 1}, ISR: []int32{2, 3}, Leader: 2, LeaderEpoch: 0, PartitionEpoch: 1})
	wantPart(t, img, id(8), 0, Partition{Replicas: []int32{1}, ISR: []int32{1}, Leader: -1, LeaderEpoch: 1, PartitionEpoch: 1})

	// No new leaderships: not by election, not for a new topic, not by
	// AssignReplicas, and no way back into an ISR.
	res := electAll(t, img, false)
	if len(res.Partitions) != 0 {
		t.Errorf("preferred election moved leaders to a shutting-down broker: %+v", res.Partitions)
	}
	img = mustApply(t, img, CreateTopic{Name: "new", ID: id(9), Partitions: []PartitionAssignment{{Replicas: []int32{1, 3}}}})
	wantPart(t, img, id(9), 0, Partition{Replicas: []int32{1, 3}, ISR: []int32{1, 3}, Leader: 3})
	if got, _ := AssignReplicas(img.Brokers(), 3, 1, 0); fmt.Sprint(got) != "[[2] [3] [2]]" {
		t.Errorf("AssignReplicas %v places on the shutting-down broker", got)
	}
	p := part(t, img, id(7), 0)
	_, _, err := img.Apply(AlterPartition{TopicID: id(7), Partition: 0, BrokerID: 2, BrokerEpoch: epoch(img, 2), LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch, ISR: []int32{2, 3, 1}})
	if !errors.Is(err, ErrIneligibleReplica) {
		t.Errorf("adding a shutting-down broker to the ISR: %v", err)
	}
	// Registering again ends it.
	img = mustApply(t, img, RegisterBroker{ID: 1, Host: "h1", Port: 9092})
	if b, _ := img.Broker(1); !b.Live() {
		t.Errorf("broker 1 %+v after registering", b)
	}
	wantPart(t, img, id(8), 0, Partition{Replicas: []int32{1}, ISR: []int32{1}, Leader: 1, LeaderEpoch: 2, PartitionEpoch: 2})
}

func electAll(t *testing.T, img *Image, unclean bool) Result {
	t.Helper()
	_, res, err := img.Apply(ElectLeaders{Unclean: unclean})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestAlterPartition(t *testing.T) {
	base := three(t)
	ok := AlterPartition{TopicID: id(7), Partition: 0, BrokerID: 1, BrokerEpoch: epoch(base, 1), LeaderEpoch: 0, PartitionEpoch: 0, ISR: []int32{1, 3}}
	img, res, err := base.Apply(ok)
	if err != nil {
		t.Fatal(err)
	}
	wantPart(t, img, id(7), 0, Partition{Replicas: []int32{1, 2, 3}, ISR: []int32{1, 3}, Leader: 1, LeaderEpoch: 0, PartitionEpoch: 1})
	if res.LeaderEpoch != 0 || res.PartitionEpoch != 1 || res.Offset != img.Offset() {
		t.Errorf("result %+v", res)
	}
	// Expanding again, from the new partition epoch.
	grow := ok
	grow.PartitionEpoch, grow.ISR = 1, []int32{1, 3, 2}
	img2 := mustApply(t, img, grow)
	wantPart(t, img2, id(7), 0, Partition{Replicas: []int32{1, 2, 3}, ISR: []int32{1, 3, 2}, Leader: 1, LeaderEpoch: 0, PartitionEpoch: 2})

	fenced := applyEach(t, base, fenceOf(3))
	with := func(f func(c *AlterPartition)) AlterPartition { c := ok; c.ISR = slices.Clone(ok.ISR); f(&c); return c }
	for _, tc := range []struct {
		name string
		img  *Image
		cmd  AlterPartition
		want []error
		msg  string
	}{
		{"stale partition epoch", img, ok, []error{ErrInvalidUpdateVersion}, "partition epoch 0 is not the partition's, 1"},
		{"stale leader epoch", applyEach(t, base, fenceOf(1), unfenceOf(1)), AlterPartition{TopicID: id(8), BrokerID: 1, BrokerEpoch: epoch(base, 1), PartitionEpoch: 2, ISR: []int32{1}}, []error{ErrFencedLeaderEpoch}, "leader epoch 0 is not the partition's, 2"},
		{"old leader epoch", base, with(func(c *AlterPartition) { c.LeaderEpoch = -1 }), []error{ErrFencedLeaderEpoch}, "leader epoch -1"},
		{"not the leader", base, with(func(c *AlterPartition) { c.BrokerID = 2 }), []error{ErrFencedLeaderEpoch}, "broker 2 is not the leader (the leader is 1"},
		{"no broker", base, with(func(c *AlterPartition) { c.BrokerID = -1 }), []error{ErrFencedLeaderEpoch}, "broker -1"},
		{"stale broker epoch", base, with(func(c *AlterPartition) { c.BrokerEpoch = 1 }), []error{ErrStaleBrokerEpoch}, "broker 1 epoch 1"},
		{"fenced member", fenced, with(func(c *AlterPartition) { c.ISR = []int32{1, 3}; c.PartitionEpoch = 1 }), []error{ErrIneligibleReplica}, "broker 3 is not registered, fenced or shutting down"},
		{"non-replica", mustApply(t, base, RegisterBroker{ID: 4, Host: "h4", Port: 1}), with(func(c *AlterPartition) { c.ISR = []int32{1, 4} }), []error{ErrIneligibleReplica}, "broker 4 is not a replica"},
		{"empty ISR", base, with(func(c *AlterPartition) { c.ISR = nil }), []error{ErrInvalidCommand}, "ISR is empty"},
		{"duplicate", base, with(func(c *AlterPartition) { c.ISR = []int32{1, 2, 2} }), []error{ErrInvalidCommand}, "twice"},
		{"without the leader", base, with(func(c *AlterPartition) { c.ISR = []int32{2, 3} }), []error{ErrInvalidCommand}, "does not hold the leader"},
		{"unknown topic", base, with(func(c *AlterPartition) { c.TopicID = id(99) }), []error{ErrUnknownTopic, ErrInvalidCommand}, "no topic has ID"},
		{"unknown partition", base, with(func(c *AlterPartition) { c.Partition = 5 }), []error{ErrUnknownTopic, ErrInvalidCommand}, `"t" has no partition 5`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			next, res, err := tc.img.Apply(tc.cmd)
			if err == nil {
				t.Fatalf("no error")
			}
			matched := true
			for _, w := range tc.want {
				matched = matched && errors.Is(err, w)
			}
			if !matched || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q, want %v containing %q", err, tc.want, tc.msg)
			}
			if next != tc.img || !reflect.DeepEqual(res, Result{}) {
				t.Error("failed AlterPartition changed the image or gave a result")
			}
		})
	}
}

func TestElectLeaders(t *testing.T) {
	// Broker 1 is fenced and back: partition 0 of "t" is led by 2, and 1
	// rejoined the ISR.
	img := applyEach(t, three(t), fenceOf(1), unfenceOf(1))
	p := part(t, img, id(7), 0)
	img = mustApply(t, img, AlterPartition{TopicID: id(7), Partition: 0, BrokerID: 2, BrokerEpoch: epoch(img, 2), LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch, ISR: []int32{2, 3, 1}})

	next, res, err := img.Apply(ElectLeaders{Partitions: []TopicPartition{{id(7), 0}, {id(7), 1}, {id(7), 9}, {id(99), 0}}})
	if err != nil {
		t.Fatal(err)
	}
	wantPart(t, next, id(7), 0, Partition{Replicas: []int32{1, 2, 3}, ISR: []int32{2, 3, 1}, Leader: 1, LeaderEpoch: 2, PartitionEpoch: 3})
	wantErrs(t, res.Partitions, []TopicPartition{{id(7), 0}, {id(7), 1}, {id(7), 9}, {id(99), 0}}, []error{nil, ErrElectionNotNeeded, ErrUnknownTopic, ErrUnknownTopic})

	// Not available: the preferred replica is out of the ISR (partition 1
	// of "t": 2 fenced and back, not yet caught up).
	img2 := applyEach(t, three(t), fenceOf(2), unfenceOf(2))
	_, res, _ = img2.Apply(ElectLeaders{Partitions: []TopicPartition{{id(7), 1}}})
	wantErrs(t, res.Partitions, []TopicPartition{{id(7), 1}}, []error{ErrPreferredLeaderNotAvailable})

	// All partitions: only the elected ones are listed.
	res = electAll(t, img, false)
	wantErrs(t, res.Partitions, []TopicPartition{{id(7), 0}}, []error{nil})
}

func TestElectLeadersUnclean(t *testing.T) {
	img := mustApply(t, three(t), AlterPartition{TopicID: id(7), Partition: 0, BrokerID: 1, BrokerEpoch: 2, ISR: []int32{1}})
	img = applyEach(t, img, fenceOf(1))
	wantPart(t, img, id(7), 0, Partition{Replicas: []int32{1, 2, 3}, ISR: []int32{1}, Leader: -1, LeaderEpoch: 1, PartitionEpoch: 2})

	next, res, err := img.Apply(ElectLeaders{Unclean: true, Partitions: []TopicPartition{{id(7), 0}, {id(7), 1}, {id(8), 0}}})
	if err != nil {
		t.Fatal(err)
	}
	wantPart(t, next, id(7), 0, Partition{Replicas: []int32{1, 2, 3}, ISR: []int32{2}, Leader: 2, LeaderEpoch: 2, PartitionEpoch: 3})
	wantErrs(t, res.Partitions, []TopicPartition{{id(7), 0}, {id(7), 1}, {id(8), 0}}, []error{nil, ErrElectionNotNeeded, ErrEligibleLeadersNotAvailable})

	// All: both leaderless partitions are tried, only the elected listed.
	res = electAll(t, img, true)
	wantErrs(t, res.Partitions, []TopicPartition{{id(7), 0}}, []error{nil})

	// A clean election is preferred where an ISR member is live.
	img = applyEach(t, three(t), fenceOf(1), fenceOf(2), fenceOf(3))
	img = mustApply(t, img, UnfenceBroker{ID: 3, Epoch: epoch(img, 3)})
	wantPart(t, img, id(7), 1, Partition{Replicas: []int32{2, 3, 1}, ISR: []int32{3}, Leader: 3, LeaderEpoch: 3, PartitionEpoch: 4})
}

func wantErrs(t *testing.T, got []PartitionResult, parts []TopicPartition, errs []error) {
	t.Helper()
	if len(got) != len(parts) {
		t.Fatalf("results %+v, want %d", got, len(parts))
	}
	for i, r := range got {
		if r.TopicID != parts[i].TopicID || r.Partition != parts[i].Partition {
			t.Errorf("result %d is for %s-%d, want %s-%d", i, r.TopicID, r.Partition, parts[i].TopicID, parts[i].Partition)
		}
		if (errs[i] == nil) != (r.Err == nil) || errs[i] != nil && !errors.Is(r.Err, errs[i]) {
			t.Errorf("result %d: %v, want %v", i, r.Err, errs[i])
		}
	}
}

func TestReassignment(t *testing.T) {
	base := three(t, RegisterBroker{ID: 4, Host: "h4", Port: 1})
	// Move "solo"-0 from [1] to [2 3].
	img, res, err := base.Apply(AlterPartitionReassignments{Reassignments: []Reassignment{{TopicID: id(8), Partition: 0, Replicas: []int32{2, 3}}}})
	if err != nil {
		t.Fatal(err)
	}
	wantErrs(t, res.Partitions, []TopicPartition{{id(8), 0}}, []error{nil})
	wantPart(t, img, id(8), 0, Partition{Replicas: []int32{2, 3, 1}, ISR: []int32{1}, Leader: 1, PartitionEpoch: 1, AddingReplicas: []int32{2, 3}, RemovingReplicas: []int32{1}})
	want := []OngoingReassignment{{Topic: "solo", TopicID: id(8), Partition: 0, Replicas: []int32{2, 3, 1}, AddingReplicas: []int32{2, 3}, RemovingReplicas: []int32{1}}}
	if got := img.Reassignments(); !reflect.DeepEqual(got, want) || !reflect.DeepEqual(got[0].Target(), []int32{2, 3}) {
		t.Errorf("Reassignments() = %+v", got)
	}
	// One adding replica in the ISR: not yet.
	alter := AlterPartition{TopicID: id(8), Partition: 0, BrokerID: 1, BrokerEpoch: epoch(img, 1), PartitionEpoch: 1, ISR: []int32{1, 2}}
	img = mustApply(t, img, alter)
	wantPart(t, img, id(8), 0, Partition{Replicas: []int32{2, 3, 1}, ISR: []int32{1, 2}, Leader: 1, PartitionEpoch: 2, AddingReplicas: []int32{2, 3}, RemovingReplicas: []int32{1}})
	// Both: the move completes and leadership leaves the removed replica.
	alter.PartitionEpoch, alter.ISR = 2, []int32{1, 2, 3}
	done, res, err := img.Apply(alter)
	if err != nil {
		t.Fatal(err)
	}
	wantPart(t, done, id(8), 0, Partition{Replicas: []int32{2, 3}, ISR: []int32{2, 3}, Leader: 2, LeaderEpoch: 1, PartitionEpoch: 3})
	if res.LeaderEpoch != 1 || res.PartitionEpoch != 3 || done.Reassignments() != nil {
		t.Errorf("result %+v, reassignments %v", res, done.Reassignments())
	}

	// Cancel: back to [1], the adding replicas leave the ISR.
	cancelled := mustApply(t, img, AlterPartitionReassignments{Reassignments: []Reassignment{{TopicID: id(8), Partition: 0}}})
	wantPart(t, cancelled, id(8), 0, Partition{Replicas: []int32{1}, ISR: []int32{1}, Leader: 1, PartitionEpoch: 3})
	// Replace: a new target, computed from the original replicas.
	replaced := mustApply(t, img, AlterPartitionReassignments{Reassignments: []Reassignment{{TopicID: id(8), Partition: 0, Replicas: []int32{4}}}})
	wantPart(t, replaced, id(8), 0, Partition{Replicas: []int32{4, 1}, ISR: []int32{1}, Leader: 1, PartitionEpoch: 3, AddingReplicas: []int32{4}, RemovingReplicas: []int32{1}})

	// Removal only, with the target in the ISR: completes at once; the
	// leader is removed, so leadership moves.
	img = mustApply(t, base, AlterPartitionReassignments{Reassignments: []Reassignment{{TopicID: id(7), Partition: 0, Replicas: []int32{3, 2}}}})
	wantPart(t, img, id(7), 0, Partition{Replicas: []int32{3, 2}, ISR: []int32{2, 3}, Leader: 3, LeaderEpoch: 1, PartitionEpoch: 1})
	// Same brokers, another order: a reorder, no move.
	img = mustApply(t, base, AlterPartitionReassignments{Reassignments: []Reassignment{{TopicID: id(7), Partition: 1, Replicas: []int32{1, 2, 3}}}})
	wantPart(t, img, id(7), 1, Partition{Replicas: []int32{1, 2, 3}, ISR: []int32{2, 3, 1}, Leader: 2, PartitionEpoch: 1})

	// Per-partition errors; the valid entries apply.
	next, res, err := base.Apply(AlterPartitionReassignments{Reassignments: []Reassignment{
		{TopicID: id(7), Partition: 0, Replicas: []int32{}},
		{TopicID: id(7), Partition: 0, Replicas: []int32{2, 2}},
		{TopicID: id(7), Partition: 0, Replicas: []int32{2, 9}},
		{TopicID: id(7), Partition: 0},
		{TopicID: id(7), Partition: 3, Replicas: []int32{1}},
		{TopicID: id(99), Partition: 0, Replicas: []int32{1}},
		{TopicID: id(8), Partition: 0, Replicas: []int32{4}},
	}})
	if err != nil {
		t.Fatal(err)
	}
	wantErrs(t, res.Partitions, []TopicPartition{{id(7), 0}, {id(7), 0}, {id(7), 0}, {id(7), 0}, {id(7), 3}, {id(99), 0}, {id(8), 0}},
		[]error{ErrInvalidReplicaAssignment, ErrInvalidReplicaAssignment, ErrInvalidReplicaAssignment, ErrNoReassignmentInProgress, ErrUnknownTopic, ErrUnknownTopic, nil})
	wantPart(t, next, id(7), 0, part(t, base, id(7), 0))
	if r := next.Reassignments(); len(r) != 1 || r[0].TopicID != id(8) {
		t.Errorf("reassignments %+v", r)
	}

	// A cancel that would leave no original replica in the ISR is refused.
	img = mustApply(t, base, AlterPartitionReassignments{Reassignments: []Reassignment{{TopicID: id(8), Partition: 0, Replicas: []int32{2, 3}}}})
	img = mustApply(t, img, AlterPartition{TopicID: id(8), Partition: 0, BrokerID: 1, BrokerEpoch: epoch(img, 1), PartitionEpoch: 1, ISR: []int32{1, 2}})
	img = applyEach(t, img, fenceOf(1))
	wantPart(t, img, id(8), 0, Partition{Replicas: []int32{2, 3, 1}, ISR: []int32{2}, Leader: 2, LeaderEpoch: 1, PartitionEpoch: 3, AddingReplicas: []int32{2, 3}, RemovingReplicas: []int32{1}})
	_, res, _ = img.Apply(AlterPartitionReassignments{Reassignments: []Reassignment{{TopicID: id(8), Partition: 0}}})
	wantErrs(t, res.Partitions, []TopicPartition{{id(8), 0}}, []error{ErrInvalidReplicaAssignment})
}

func TestImageRoundTripWithClusterState(t *testing.T) {
	img := applyEach(t, three(t, RegisterBroker{ID: 4, Host: "h4", Port: 1}), shutdownOf(3))
	img = mustApply(t, img, AlterPartitionReassignments{Reassignments: []Reassignment{{TopicID: id(8), Partition: 0, Replicas: []int32{2, 4}}}})
	data, err := img.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	back, err := DecodeImage(data)
	if err != nil {
		t.Fatalf("DecodeImage: %v\n%s", err, data)
	}
	if !reflect.DeepEqual(back, img) {
		t.Fatalf("round trip differs:\n%s", data)
	}
	bad := strings.Replace(string(data), `"adding_replicas":[2,4]`, `"adding_replicas":[2,5]`, 1)
	if _, err := DecodeImage([]byte(bad)); !errors.Is(err, ErrInvalidCommand) {
		t.Errorf("an adding replica that is not a replica: %v", err)
	}
}

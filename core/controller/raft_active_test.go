package controller

import (
	"errors"
	"reflect"
	"testing"
	"time"
)

// activeCluster starts a single voter whose active controller runs on
// clock, with a 10 s session (on that clock).
func activeCluster(t *testing.T, clock *manualClock, tune func(*RaftOptions)) *testNode {
	t.Helper()
	nodes := startCluster(t, 1, func(o *RaftOptions) {
		o.Now = clock.Now
		o.BrokerSessionTimeout = 10 * time.Second
		if tune != nil {
			tune(o)
		}
	})
	leader(t, nodes)
	return nodes[0]
}

func brokerEpoch(r *Raft, id int32) int64 {
	b, _ := r.Image().Broker(id)
	return b.Epoch
}

func heartbeat(t *testing.T, r *Raft, ids ...int32) {
	t.Helper()
	for _, id := range ids {
		if err := r.Heartbeat(ctxT(t), id, brokerEpoch(r, id)); err != nil {
			t.Fatalf("heartbeat of broker %d: %v", id, err)
		}
	}
}

// silence lets broker `silent` miss its session while the others
// heartbeat, and waits until it is fenced.
func silence(t *testing.T, r *Raft, clock *manualClock, silent int32, others ...int32) {
	t.Helper()
	heartbeat(t, r, append([]int32{silent}, others...)...)
	clock.Advance(7500 * time.Millisecond)
	heartbeat(t, r, others...)
	clock.Advance(7500 * time.Millisecond)
	waitFor(t, "the silent broker to be fenced", func() bool {
		b, _ := r.Image().Broker(silent)
		return b.Fenced
	})
	for _, id := range others {
		if b, _ := r.Image().Broker(id); b.Fenced {
			t.Fatalf("broker %d, which heartbeats, was fenced too", id)
		}
	}
}

func TestRaftFencing(t *testing.T) {
	t.Parallel()
	clock := newManualClock()
	n := activeCluster(t, clock, nil)
	tid := registerThree(t, n.r)
	uid := n.r.NewTopicID()
	submitR(t, n.r, CreateTopic{Name: "u", ID: uid, Partitions: []PartitionAssignment{{Replicas: []int32{1, 2}}}})
	submitR(t, n.r, AlterPartition{TopicID: uid, BrokerID: 1, BrokerEpoch: brokerEpoch(n.r, 1), ISR: []int32{1}})

	silence(t, n.r, clock, 1, 2, 3)
	img := n.r.Image()
	wantPart(t, img, tid, 0, Partition{Replicas: []int32{1, 2, 3}, ISR: []int32{2, 3}, Leader: 2, LeaderEpoch: 1, PartitionEpoch: 1})
	wantPart(t, img, tid, 1, Partition{Replicas: []int32{2, 3, 1}, ISR: []int32{2, 3}, Leader: 2, LeaderEpoch: 0, PartitionEpoch: 1})
	// No unclean election: broker 1 was u-0's only ISR member.
	wantPart(t, img, uid, 0, Partition{Replicas: []int32{1, 2}, ISR: []int32{1}, Leader: -1, LeaderEpoch: 1, PartitionEpoch: 2})

	// Heartbeating again unfences it; u-0 comes back to it.
	heartbeat(t, n.r, 1)
	img = n.r.Image()
	if b, _ := img.Broker(1); b.Fenced {
		t.Fatal("broker 1 still fenced after heartbeating")
	}
	wantPart(t, img, uid, 0, Partition{Replicas: []int32{1, 2}, ISR: []int32{1}, Leader: 1, LeaderEpoch: 2, PartitionEpoch: 3})

	// A broker that registers again gets a new session and epoch; its old
	// epoch is refused.
	old := brokerEpoch(n.r, 3)
	submitR(t, n.r, RegisterBroker{ID: 3, Host: "h", Port: 9095})
	if err := n.r.Heartbeat(ctxT(t), 3, old); !errors.Is(err, ErrStaleBrokerEpoch) {
		t.Errorf("heartbeat with the old epoch: %v", err)
	}
}

func TestRaftUncleanElection(t *testing.T) {
	t.Parallel()
	clock := newManualClock()
	n := activeCluster(t, clock, func(o *RaftOptions) { o.UncleanLeaderElection = true })
	registerThree(t, n.r)
	uid := n.r.NewTopicID()
	submitR(t, n.r, CreateTopic{Name: "u", ID: uid, Partitions: []PartitionAssignment{{Replicas: []int32{1, 2}}}})
	submitR(t, n.r, AlterPartition{TopicID: uid, BrokerID: 1, BrokerEpoch: brokerEpoch(n.r, 1), ISR: []int32{1}})
	silence(t, n.r, clock, 1, 2, 3)
	waitFor(t, "an unclean election of u-0", func() bool {
		p, _ := n.r.Image().Partition(uid, 0)
		return p.Leader == 2
	})
	wantPart(t, n.r.Image(), uid, 0, Partition{Replicas: []int32{1, 2}, ISR: []int32{2}, Leader: 2, LeaderEpoch: 2, PartitionEpoch: 3})
}

func TestRaftFreshLeaderGivesFullSession(t *testing.T) {
	t.Parallel()
	clock := newManualClock()
	n := activeCluster(t, clock, nil)
	registerThree(t, n.r)
	if err := n.r.Close(); err != nil {
		t.Fatal(err)
	}
	// Long past every session while no controller ran.
	clock.Advance(time.Hour)
	n.open(t)
	leader(t, []*testNode{n})
	if err := n.r.Sync(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	a := n.r.active.Load()
	a.mu.Lock()
	for id := int32(1); id <= 3; id++ {
		if s := a.mu.sessions[id]; !s.lastSeen.Equal(clock.Now()) {
			t.Errorf("broker %d's session starts at %v, want now %v", id, s.lastSeen, clock.Now())
		}
	}
	a.mu.Unlock()
	for _, b := range n.r.Image().Brokers() {
		if b.Fenced {
			t.Errorf("broker %d fenced by a fresh active controller", b.ID)
		}
	}
	// The sessions still expire.
	silence(t, n.r, clock, 3, 1, 2)
}

func TestRaftControlledShutdown(t *testing.T) {
	t.Parallel()
	clock := newManualClock()
	nodes := startCluster(t, 3, func(o *RaftOptions) { o.Now = clock.Now; o.BrokerSessionTimeout = time.Hour })
	l := leader(t, nodes)
	f := followerOf(nodes, l)
	tid := registerThree(t, f.r)
	submitR(t, f.r, ControlledShutdown{ID: 1, Epoch: brokerEpoch(f.r, 1)})
	img := f.r.Image()
	wantPart(t, img, tid, 0, Partition{Replicas: []int32{1, 2, 3}, ISR: []int32{2, 3}, Leader: 2, LeaderEpoch: 1, PartitionEpoch: 1})
	wantPart(t, img, tid, 1, Partition{Replicas: []int32{2, 3, 1}, ISR: []int32{2, 3}, Leader: 2, LeaderEpoch: 0, PartitionEpoch: 1})
	if b, _ := img.Broker(1); !b.InControlledShutdown {
		t.Errorf("broker 1 %+v", b)
	}
	// Its heartbeats until it stops do not give it leaderships back.
	heartbeat(t, f.r, 1)
	_, res, _ := img.Apply(ElectLeaders{})
	if len(res.Partitions) != 0 {
		t.Errorf("a preferred election would elect the shutting-down broker: %+v", res.Partitions)
	}
}

func TestRaftReassignment(t *testing.T) {
	t.Parallel()
	clock := newManualClock()
	n := activeCluster(t, clock, nil)
	registerThree(t, n.r)
	submitR(t, n.r, RegisterBroker{ID: 4, Host: "h", Port: 9096})
	sid := n.r.NewTopicID()
	submitR(t, n.r, CreateTopic{Name: "solo", ID: sid, Partitions: []PartitionAssignment{{Replicas: []int32{1}}}})

	res := submitR(t, n.r, AlterPartitionReassignments{Reassignments: []Reassignment{{TopicID: sid, Partition: 0, Replicas: []int32{2, 4}}}})
	if len(res.Partitions) != 1 || res.Partitions[0].Err != nil {
		t.Fatalf("reassignment result %+v", res.Partitions)
	}
	want := []OngoingReassignment{{Topic: "solo", TopicID: sid, Partition: 0, Replicas: []int32{2, 4, 1}, AddingReplicas: []int32{2, 4}, RemovingReplicas: []int32{1}}}
	if got := n.r.Image().Reassignments(); !reflect.DeepEqual(got, want) {
		t.Fatalf("ongoing reassignments %+v", got)
	}
	// The new replicas catch up: the leader adds them to the ISR, and the
	// move completes.
	res = submitR(t, n.r, AlterPartition{TopicID: sid, BrokerID: 1, BrokerEpoch: brokerEpoch(n.r, 1), PartitionEpoch: 1, ISR: []int32{1, 2, 4}})
	wantPart(t, n.r.Image(), sid, 0, Partition{Replicas: []int32{2, 4}, ISR: []int32{2, 4}, Leader: 2, LeaderEpoch: 1, PartitionEpoch: 2})
	if res.LeaderEpoch != 1 || n.r.Image().Reassignments() != nil {
		t.Errorf("result %+v, ongoing %+v", res, n.r.Image().Reassignments())
	}
}

func TestRaftPreferredLeaderElection(t *testing.T) {
	t.Parallel()
	clock := newManualClock()
	n := activeCluster(t, clock, func(o *RaftOptions) {
		o.BrokerSessionTimeout = time.Hour
		o.AutoLeaderRebalance, o.LeaderImbalanceCheckInterval = true, time.Minute
	})
	tid := registerThree(t, n.r)
	submitR(t, n.r, FenceBroker{ID: 1, Epoch: brokerEpoch(n.r, 1)})
	heartbeat(t, n.r, 1) // unfenced; not yet in the ISR
	p := part(t, n.r.Image(), tid, 0)
	if p.Leader != 2 {
		t.Fatalf("partition 0 %+v", p)
	}
	// The leader adds it back to the ISR; until the next check,
	// leadership stays.
	submitR(t, n.r, AlterPartition{TopicID: tid, BrokerID: 2, BrokerEpoch: brokerEpoch(n.r, 2), LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch, ISR: []int32{2, 3, 1}})
	if p := part(t, n.r.Image(), tid, 0); p.Leader != 2 {
		t.Fatalf("leadership moved before the rebalance: %+v", p)
	}
	clock.Advance(time.Minute)
	waitFor(t, "the preferred leader to lead again", func() bool {
		p, _ := n.r.Image().Partition(tid, 0)
		return p.Leader == 1
	})
	wantPart(t, n.r.Image(), tid, 0, Partition{Replicas: []int32{1, 2, 3}, ISR: []int32{2, 3, 1}, Leader: 1, LeaderEpoch: 2, PartitionEpoch: 3})
}

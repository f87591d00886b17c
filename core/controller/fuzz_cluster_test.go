package controller

import (
	"reflect"
	"slices"
	"testing"
)

// FuzzClusterCommands: any run of cluster commands (fences, unfences,
// restarts, shutdowns, ISR changes, elections, reassignments) keeps the
// partition invariants, never lowers an epoch, bumps the leader epoch with
// every leader change, and replays to the same image.
func FuzzClusterCommands(f *testing.F) {
	f.Add([]byte{0, 1, 1, 1, 2, 1, 3, 2, 4, 0, 5, 0})
	f.Add([]byte{6, 0, 0, 3, 7, 0, 0, 0, 0, 1, 3, 0, 0, 0})
	f.Add([]byte{0, 0, 0, 1, 0, 2, 1, 2, 1, 0, 5, 1})
	f.Add([]byte{6, 1, 0, 9, 3, 1, 0, 0, 7, 1, 0, 1, 2, 3})
	base := three(f, RegisterBroker{ID: 4, Host: "h4", Port: 1},
		AlterTopicConfigs{TopicID: id(8), Set: map[string]string{"unclean.leader.election.enable": "true"}})
	f.Fuzz(func(t *testing.T, data []byte) {
		cmds := fuzzCommands(base, data)
		img := base
		for _, c := range cmds {
			next, _, err := img.Apply(c)
			if err != nil {
				continue
			}
			checkInvariants(t, img, next)
			img = next
		}
		again, _ := run(base, cmds)
		if !reflect.DeepEqual(again, img) {
			t.Fatal("the same commands gave another image")
		}
		enc, err := img.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		back, err := DecodeImage(enc)
		if err != nil || !reflect.DeepEqual(back, img) {
			t.Fatalf("image does not round-trip: %v\n%s", err, enc)
		}
	})
}

// fuzzCommands turns bytes into commands, building each from the image the
// earlier ones lead to so that most apply.
func fuzzCommands(img *Image, data []byte) []Command {
	next := func() byte {
		if len(data) == 0 {
			return 0
		}
		b := data[0]
		data = data[1:]
		return b
	}
	topics := []TopicID{id(7), id(8)}
	var cmds []Command
	for len(data) > 0 && len(cmds) < 64 {
		broker := int32(next()%4) + 1
		var c Command
		switch next() % 8 {
		case 0:
			c = FenceBroker{ID: broker, Epoch: epoch(img, broker)}
		case 1:
			c = UnfenceBroker{ID: broker, Epoch: epoch(img, broker)}
		case 2:
			c = RegisterBroker{ID: broker, Host: "h", Port: 1}
		case 3:
			c = ControlledShutdown{ID: broker, Epoch: epoch(img, broker)}
		case 4, 5:
			tid := topics[next()%2]
			pn := int32(next() % 2)
			p, ok := img.Partition(tid, pn)
			if !ok {
				continue
			}
			isr := []int32{p.Leader}
			for _, r := range p.Replicas {
				if r != p.Leader && next()%2 == 0 {
					isr = append(isr, r)
				}
			}
			c = AlterPartition{TopicID: tid, Partition: pn, BrokerID: p.Leader, BrokerEpoch: epoch(img, p.Leader),
				LeaderEpoch: p.LeaderEpoch, PartitionEpoch: p.PartitionEpoch, ISR: isr}
		case 6:
			el := ElectLeaders{Unclean: next()%2 == 0}
			if next()%2 == 0 {
				el.Partitions = []TopicPartition{{TopicID: topics[next()%2], Partition: int32(next() % 2)}}
			}
			c = el
		case 7:
			var target []int32
			if n := next() % 4; n > 0 {
				for _, r := range []int32{int32(next()%4) + 1, int32(next()%4) + 1, int32(next()%4) + 1}[:n] {
					if !slices.Contains(target, r) {
						target = append(target, r)
					}
				}
			}
			c = AlterPartitionReassignments{Reassignments: []Reassignment{{TopicID: topics[next()%2], Partition: int32(next() % 2), Replicas: target}}}
		}
		if n, _, err := img.Apply(c); err == nil {
			img = n
		}
		cmds = append(cmds, c)
	}
	return cmds
}

// checkInvariants checks every partition of next against itself and the
// same partition in prev.
func checkInvariants(t *testing.T, prev, next *Image) {
	t.Helper()
	for _, tp := range next.Topics() {
		for i, p := range tp.Partitions {
			name := partitionName(&tp, i)
			if len(p.ISR) == 0 || len(p.Replicas) == 0 || len(p.TargetReplicas()) == 0 {
				t.Fatalf("%s: empty replicas, target or ISR: %+v", name, p)
			}
			for j, r := range p.ISR {
				if !slices.Contains(p.Replicas, r) || slices.Contains(p.ISR[:j], r) {
					t.Fatalf("%s: ISR member %d is not a replica or listed twice: %+v", name, r, p)
				}
			}
			for _, r := range slices.Concat(p.AddingReplicas, p.RemovingReplicas) {
				if !slices.Contains(p.Replicas, r) {
					t.Fatalf("%s: reassigned replica %d is not a replica: %+v", name, r, p)
				}
			}
			if p.Leader >= 0 {
				if !slices.Contains(p.ISR, p.Leader) {
					t.Fatalf("%s: leader %d is not in the ISR: %+v", name, p.Leader, p)
				}
				if b, _ := next.Broker(p.Leader); !b.Live() {
					t.Fatalf("%s: leader %d is not live: %+v", name, p.Leader, b)
				}
			}
			old, ok := prev.Partition(tp.ID, int32(i))
			if !ok {
				continue
			}
			if p.LeaderEpoch < old.LeaderEpoch || p.PartitionEpoch < old.PartitionEpoch {
				t.Fatalf("%s: an epoch went down: %+v after %+v", name, p, old)
			}
			if p.Leader != old.Leader && p.LeaderEpoch != old.LeaderEpoch+1 {
				t.Fatalf("%s: the leader changed from %d to %d with leader epoch %d to %d", name, old.Leader, p.Leader, old.LeaderEpoch, p.LeaderEpoch)
			}
			if !samePartition(old, p) && p.PartitionEpoch != old.PartitionEpoch+1 {
				t.Fatalf("%s: changed without a partition epoch bump: %+v after %+v", name, p, old)
			}
		}
	}
}

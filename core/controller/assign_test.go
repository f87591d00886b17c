package controller

import (
	"errors"
	"reflect"
	"slices"
	"testing"
)

func brokersWithRacks(racks ...string) []Broker {
	out := make([]Broker, len(racks))
	for i, r := range racks {
		out[i] = Broker{ID: int32(i + 1), Host: "h", Port: 9092, Rack: r}
	}
	return out
}

// checkAssignment checks the shape of an assignment and returns how many
// partitions each broker leads and how many replicas it holds.
func checkAssignment(t *testing.T, got [][]int32, partitions, rf int) (leaders, replicas map[int32]int) {
	t.Helper()
	if len(got) != partitions {
		t.Fatalf("%d partitions, want %d", len(got), partitions)
	}
	leaders, replicas = map[int32]int{}, map[int32]int{}
	for p, r := range got {
		if len(r) != rf {
			t.Fatalf("partition %d: %v, want %d replicas", p, r, rf)
		}
		for j, b := range r {
			if slices.Contains(r[:j], b) {
				t.Fatalf("partition %d: %v has broker %d twice", p, r, b)
			}
			replicas[b]++
		}
		leaders[r[0]]++
	}
	return leaders, replicas
}

func spread(counts map[int32]int) (lo, hi int) {
	lo = -1
	for _, c := range counts {
		if lo < 0 || c < lo {
			lo = c
		}
		hi = max(hi, c)
	}
	return lo, hi
}

func TestAssignReplicasBalance(t *testing.T) {
	for _, tc := range []struct {
		brokers, partitions, rf int
	}{{1, 7, 1}, {3, 3, 3}, {5, 50, 3}, {4, 12, 2}, {6, 60, 4}, {7, 20, 3}} {
		bs := brokersWithRacks(make([]string, tc.brokers)...)
		got, err := AssignReplicas(bs, tc.partitions, tc.rf, 0)
		if err != nil {
			t.Fatal(err)
		}
		leaders, replicas := checkAssignment(t, got, tc.partitions, tc.rf)
		if lo, hi := spread(leaders); len(leaders) != min(tc.brokers, tc.partitions) || hi-lo > 1 {
			t.Errorf("%+v: leaders %v are not spread evenly", tc, leaders)
		}
		if lo, hi := spread(replicas); tc.partitions%tc.brokers == 0 && hi != lo {
			t.Errorf("%+v: replicas %v are not spread evenly", tc, replicas)
		}
	}
}

func TestAssignReplicasContinues(t *testing.T) {
	bs := brokersWithRacks("", "", "", "")
	all, _ := AssignReplicas(bs, 10, 2, 0)
	first, _ := AssignReplicas(bs, 4, 2, 0)
	rest, _ := AssignReplicas(bs, 6, 2, 4)
	if got := append(first, rest...); !reflect.DeepEqual(got, all) {
		t.Errorf("in two steps %v, in one %v", got, all)
	}
	// The caller's order does not matter; duplicates count once.
	shuffled := []Broker{bs[2], bs[0], bs[3], bs[1], bs[0]}
	if got, _ := AssignReplicas(shuffled, 10, 2, 0); !reflect.DeepEqual(got, all) {
		t.Errorf("shuffled input gave %v, want %v", got, all)
	}
}

func TestAssignReplicasRacks(t *testing.T) {
	for _, tc := range []struct {
		racks      []string
		partitions int
		rf         int
	}{
		{[]string{"a", "a", "b", "b", "c", "c"}, 60, 3},
		{[]string{"a", "a", "b", "b", "c", "c"}, 60, 2},
		{[]string{"a", "a", "b", "b", "c", "c"}, 30, 4},
		{[]string{"a", "a", "a", "b"}, 20, 2},
		{[]string{"a", "a", "a", "b"}, 20, 3},
		{[]string{"a", "b", "", "b"}, 8, 3},
	} {
		bs := brokersWithRacks(tc.racks...)
		rack := func(id int32) string { return tc.racks[id-1] }
		got, err := AssignReplicas(bs, tc.partitions, tc.rf, 0)
		if err != nil {
			t.Fatal(err)
		}
		leaders, _ := checkAssignment(t, got, tc.partitions, tc.rf)
		if lo, hi := spread(leaders); len(leaders) != len(bs) || hi-lo > 1 {
			t.Errorf("%v rf %d: leaders %v are not spread evenly", tc.racks, tc.rf, leaders)
		}
		distinct := map[string]bool{}
		for _, r := range tc.racks {
			distinct[r] = true
		}
		for p, r := range got {
			perRack := map[string]int{}
			for j, b := range r {
				perRack[rack(b)]++
				if j > 0 && rack(b) == rack(r[j-1]) && otherRackFree(bs, r[:j], rack(b)) {
					t.Errorf("%v rf %d: partition %d %v has consecutive replicas on rack %q", tc.racks, tc.rf, p, r, rack(b))
				}
			}
			if want := min(tc.rf, len(distinct)); len(perRack) != want {
				t.Errorf("%v rf %d: partition %d %v spans %d racks, want %d", tc.racks, tc.rf, p, r, len(perRack), want)
			}
		}
	}
}

func TestAssignReplicasErrors(t *testing.T) {
	bs := brokersWithRacks("", "", "")
	bs[2].Fenced = true
	for _, tc := range []struct {
		partitions, rf, first int
		want                  error
	}{
		{0, 1, 0, ErrInvalidPartitions},
		{MaxPartitions + 1, 1, 0, ErrInvalidPartitions},
		{1, 1, -1, ErrInvalidPartitions},
		{1, 0, 0, ErrInvalidReplicationFactor},
		{1, 3, 0, ErrInvalidReplicationFactor}, // broker 3 is fenced
	} {
		if _, err := AssignReplicas(bs, tc.partitions, tc.rf, tc.first); !errors.Is(err, tc.want) {
			t.Errorf("%+v: %v, want %v", tc, err, tc.want)
		}
	}
	got, err := AssignReplicas(bs, 4, 2, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range got {
		if slices.Contains(r, 3) {
			t.Errorf("fenced broker 3 got a replica: %v", got)
		}
	}
	if _, err := AssignReplicas(nil, 1, 1, 0); !errors.Is(err, ErrInvalidReplicationFactor) {
		t.Errorf("no brokers: %v", err)
	}
}

// The assignment applies as a CreateTopic and a CreatePartitions.
func TestAssignReplicasApplies(t *testing.T) {
	img := cluster(t)
	a, err := AssignReplicas(img.Brokers(), 5, 3, 0)
	if err != nil {
		t.Fatal(err)
	}
	c := CreateTopic{Name: "new", ID: id(7)}
	for _, r := range a {
		c.Partitions = append(c.Partitions, PartitionAssignment{Replicas: r})
	}
	img = mustApply(t, img, c)
	more, err := AssignReplicas(img.Brokers(), 3, 3, 5)
	if err != nil {
		t.Fatal(err)
	}
	img = mustApply(t, img, CreatePartitions{TopicID: id(7), Assignments: more, Count: 8})
	if tp, _ := img.TopicByID(id(7)); len(tp.Partitions) != 8 {
		t.Errorf("%d partitions", len(tp.Partitions))
	}
}

// otherRackFree reports whether a broker off rack is not yet in used.
func otherRackFree(bs []Broker, used []int32, rack string) bool {
	for _, b := range bs {
		if b.Rack != rack && !slices.Contains(used, b.ID) {
			return true
		}
	}
	return false
}

package partition

import "testing"

// BenchmarkFollowerFetch is the leader's work per follower fetch in the
// state machine: the lastCaughtUpTime rule, the ISR check and the HW over
// three replicas. It allocates nothing.
//
//	go test -run '^$' -bench FollowerFetch ./core/partition/
func BenchmarkFollowerFetch(b *testing.B) {
	s := newReplicaState(1, 0, 0, 30000)
	if _, err := s.becomeLeader(Leadership{Leader: 1, LeaderEpoch: 1, Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2, 3}}, 0, 0); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		leo := int64(i + 1)
		s.localAppend(leo)
		if _, err := s.followerFetch(2, leo, int64(i)); err != nil {
			b.Fatal(err)
		}
		if _, err := s.followerFetch(3, leo, int64(i)); err != nil {
			b.Fatal(err)
		}
	}
	if s.hw == 0 {
		b.Fatal("the HW did not move")
	}
}

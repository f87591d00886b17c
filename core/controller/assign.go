package controller

import (
	"cmp"
	"slices"
)

// AssignReplicas returns replica lists for partitions new partitions
// numbered firstPartition, firstPartition+1, ..., each with
// replicationFactor distinct brokers chosen among the live brokers of
// brokers (neither fenced nor in controlled shutdown; duplicate IDs count
// once). It is deterministic.
//
// Leaders go round-robin: the brokers are put in an order (by ID, or, when
// any broker has a rack, interleaved by rack: the first broker of each rack,
// then the second of each, ...), and partition p's first replica is the
// broker at position p modulo their number. The other replicas follow the
// leader in that order, starting further along each time the partitions
// wrap around the brokers (as Kafka does), so that follower sets vary.
// With racks, each next replica goes to a rack with the fewest replicas of
// the partition so far, avoiding the previous replica's rack, so
// consecutive replicas sit on distinct racks where the racks allow it.
//
// For CreatePartitions, pass the topic's current partition count as
// firstPartition so that the round-robin continues where it stopped. A new
// topic may pass 0, or any number (say a hash of its name) to spread the
// leaders of many small topics.
//
// It returns an error wrapping ErrInvalidPartitions when partitions is
// below 1 or above MaxPartitions or firstPartition is negative, and
// ErrInvalidReplicationFactor when replicationFactor is below 1 or above
// the number of live brokers. The result is the caller's.
func AssignReplicas(brokers []Broker, partitions, replicationFactor int, firstPartition int) ([][]int32, error) {
	if partitions < 1 || partitions > MaxPartitions {
		return nil, fail(ErrInvalidPartitions, "%d partitions: the count must be between 1 and %d", partitions, MaxPartitions)
	}
	if firstPartition < 0 || firstPartition > MaxPartitions {
		return nil, fail(ErrInvalidPartitions, "first partition %d is not between 0 and %d", firstPartition, MaxPartitions)
	}
	order := placementOrder(brokers)
	n := len(order)
	if replicationFactor < 1 || replicationFactor > n {
		return nil, fail(ErrInvalidReplicationFactor, "replication factor %d: must be between 1 and the number of available brokers, %d", replicationFactor, n)
	}
	out := make([][]int32, partitions)
	rackCount := make(map[string]int)
	for k := range out {
		p := firstPartition + k
		leader := p % n
		replicas := make([]int32, 1, replicationFactor)
		replicas[0] = order[leader].ID
		clear(rackCount)
		rackCount[order[leader].Rack]++
		prevRack := order[leader].Rack
		// Followers are looked for from this position on, cyclically; it
		// moves one further each time the partitions wrap around.
		start := leader + 1
		if n > 1 {
			start += (p / n) % (n - 1)
		}
		for len(replicas) < replicationFactor {
			best := -1
			for i := range n {
				b := order[(start+i)%n]
				if slices.Contains(replicas, b.ID) {
					continue
				}
				if best < 0 || better(b, order[best], rackCount, prevRack) {
					best = (start + i) % n
				}
			}
			b := order[best]
			replicas = append(replicas, b.ID)
			rackCount[b.Rack]++
			prevRack = b.Rack
		}
		out[k] = replicas
	}
	return out, nil
}

// better reports whether a is a better next replica than b, which comes
// before it in the search order: a rack with fewer of the partition's
// replicas, then a rack other than the previous replica's.
func better(a, b Broker, rackCount map[string]int, prevRack string) bool {
	if ca, cb := rackCount[a.Rack], rackCount[b.Rack]; ca != cb {
		return ca < cb
	}
	return a.Rack != prevRack && b.Rack == prevRack
}

// placementOrder returns the live brokers, distinct by ID, sorted by ID,
// then interleaved by rack when any has one.
func placementOrder(brokers []Broker) []Broker {
	live := make([]Broker, 0, len(brokers))
	for _, b := range brokers {
		if b.Live() {
			live = append(live, b)
		}
	}
	slices.SortStableFunc(live, func(a, b Broker) int { return cmp.Compare(a.ID, b.ID) })
	live = slices.CompactFunc(live, func(a, b Broker) bool { return a.ID == b.ID })
	if !slices.ContainsFunc(live, func(b Broker) bool { return b.Rack != "" }) {
		return live
	}
	byRack := make(map[string][]Broker)
	for _, b := range live {
		byRack[b.Rack] = append(byRack[b.Rack], b)
	}
	racks := make([]string, 0, len(byRack))
	for r := range byRack {
		racks = append(racks, r)
	}
	slices.Sort(racks)
	order := make([]Broker, 0, len(live))
	for round := 0; len(order) < len(live); round++ {
		for _, r := range racks {
			if round < len(byRack[r]) {
				order = append(order, byRack[r][round])
			}
		}
	}
	return order
}

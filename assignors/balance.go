package assignors

import (
	"cmp"
	"context"
	"slices"
)

// stick is the engine behind sticky, cooperative-sticky and uniform. owner
// holds the claims that stand (see settleClaims); stick changes it in place
// into an assignment that gives every pid to a subscriber and is balanced,
// moving as few claimed partitions as it can:
//
//   - When every member subscribes to the same topics, partition counts
//     differ by at most one, and the number of partitions taken from their
//     claimants is the least possible.
//   - Otherwise no member holds a partition that a member with at least two
//     fewer partitions subscribes to (Kafka's definition of a balanced
//     general assignment); partitions move only to reach that.
//
// The error wraps ctx.Err(); owner is then in an unspecified state.
func stick(ctx context.Context, g *group, owner []int32) error {
	if len(g.members) == 0 || g.pids() == 0 {
		return nil
	}
	if g.homogeneous() {
		stickEqual(g, owner)
		return nil
	}
	return stickGeneral(ctx, g, owner)
}

// stickEqual is stick for groups whose members all subscribe to the same
// topics. With P partitions and N members, P%N members get P/N+1 and the
// others P/N. The bigger quotas go to the members that claim the most, so
// that the fewest claimed partitions move; each member keeps its claimed
// partitions up to its quota, lowest pids first, and the rest are dealt
// round-robin to the members under quota, in member order, so that a new
// member's partitions spread over the topics.
func stickEqual(g *group, owner []int32) {
	n := len(g.members)
	base, extra := g.pids()/n, g.pids()%n
	claimed := make([]int, n)
	for _, m := range owner {
		if m != noMember {
			claimed[m]++
		}
	}
	quota := make([]int, n)
	for m := range quota {
		quota[m] = base
	}
	if extra > 0 {
		byClaims := make([]int32, n)
		for m := range byClaims {
			byClaims[m] = int32(m)
		}
		slices.SortFunc(byClaims, func(a, b int32) int {
			if c := cmp.Compare(claimed[b], claimed[a]); c != 0 {
				return c
			}
			return cmp.Compare(a, b)
		})
		for _, m := range byClaims[:extra] {
			quota[m]++
		}
	}

	held := make([]int, n)
	var free []int
	for pid, m := range owner {
		switch {
		case m == noMember:
			free = append(free, pid)
		case held[m] < quota[m]:
			held[m]++
		default:
			owner[pid] = noMember
			free = append(free, pid)
		}
	}
	var short []int32
	for m := range held {
		if held[m] < quota[m] {
			short = append(short, int32(m))
		}
	}
	// Deal. The members' shortfalls add up to len(free) exactly.
	next := 0
	for len(short) > 0 {
		still := short[:0]
		for _, m := range short {
			owner[free[next]] = m
			next++
			held[m]++
			if held[m] < quota[m] {
				still = append(still, m)
			}
		}
		short = still
	}
}

// stickGeneral is stick for groups whose members subscribe to different
// topics. Every standing claim is kept; each unclaimed partition goes to the
// least-loaded subscriber of its topic, topics with the fewest subscribers
// first (they have the fewest choices); then sweeps over the topics move one
// partition per topic and sweep from the most-loaded holder to the
// least-loaded subscriber while the two differ by two or more, until a sweep
// moves nothing. Each move lowers the sum of squared partition counts, so
// the sweeps end. A partition that was not claimed (or has moved already)
// is moved in preference to one still with its claimant.
func stickGeneral(ctx context.Context, g *group, owner []int32) error {
	counts := make([]int32, len(g.members))
	kept := make([]bool, len(owner)) // still with the member that claimed it
	for pid, m := range owner {
		if m != noMember {
			counts[m]++
			kept[pid] = true
		}
	}

	byChoice := make([]int32, len(g.topics))
	for t := range byChoice {
		byChoice[t] = int32(t)
	}
	slices.SortFunc(byChoice, func(a, b int32) int {
		if c := cmp.Compare(len(g.subscribers[a]), len(g.subscribers[b])); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	h := loadHeap{counts: counts}
	for _, t := range byChoice {
		first, end := g.first[t], g.first[t+1]
		heaped := false
		for pid := first; pid < end; pid++ {
			if owner[pid] != noMember {
				continue
			}
			if !heaped {
				h.init(g.subscribers[t])
				heaped = true
			}
			m := h.m[0]
			owner[pid] = m
			counts[m]++
			h.down(0)
		}
	}

	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		moved := false
		for t, subs := range g.subscribers {
			to := subs[0]
			for _, m := range subs[1:] {
				if counts[m] < counts[to] {
					to = m
				}
			}
			first, end := g.first[t], g.first[t+1]
			from := owner[first]
			for pid := first + 1; pid < end; pid++ {
				if m := owner[pid]; counts[m] > counts[from] || counts[m] == counts[from] && m > from {
					from = m
				}
			}
			if counts[from] < counts[to]+2 {
				continue
			}
			pick := -1
			for pid := end - 1; pid >= first; pid-- {
				if owner[pid] == from {
					if !kept[pid] {
						pick = pid
						break
					}
					if pick < 0 {
						pick = pid
					}
				}
			}
			owner[pick] = to
			kept[pick] = false
			counts[from]--
			counts[to]++
			moved = true
		}
		if !moved {
			return nil
		}
	}
}

// loadHeap is a min-heap of member indices ordered by partition count, then
// index.
type loadHeap struct {
	counts []int32
	m      []int32
}

func (h *loadHeap) less(i, j int) bool {
	a, b := h.m[i], h.m[j]
	return h.counts[a] < h.counts[b] || h.counts[a] == h.counts[b] && a < b
}

func (h *loadHeap) init(members []int32) {
	h.m = append(h.m[:0], members...)
	for i := len(h.m)/2 - 1; i >= 0; i-- {
		h.down(i)
	}
}

func (h *loadHeap) down(i int) {
	n := len(h.m)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		c := l
		if r := l + 1; r < n && h.less(r, l) {
			c = r
		}
		if !h.less(c, i) {
			return
		}
		h.m[i], h.m[c] = h.m[c], h.m[i]
		i = c
	}
}

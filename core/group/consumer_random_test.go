package group

import (
	"fmt"
	mrand "math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
)

// TestConsumerReconciliationRandom runs random joins, leaves, crashes,
// heartbeats (full and keepalives) and late revocations, checking after
// every step that no partition is consumed by two members, and at the
// end that the group settles with every partition assigned once.
func TestConsumerReconciliationRandom(t *testing.T) {
	for seed := uint64(1); seed <= 30; seed++ {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rnd := mrand.New(mrand.NewPCG(seed, 7))
			f := newCFix(t, nil, nil)
			f.topics.set("t1", 7)
			f.topics.set("t2", 5)
			assignor := []string{"uniform", "range"}[seed%2]
			var (
				live   []*client
				parked []string // instance ids of static members away (left with -2)
			)
			next := 0
			for step := 0; step < 300; step++ {
				switch n := rnd.IntN(100); {
				case n < 8 && len(live) < 6:
					c := f.newClient("g", fmt.Sprintf("m%d", next), "t1", "t2")
					next++
					c.assignor = assignor
					c.autoAck = rnd.IntN(2) == 0
					switch {
					case len(parked) > 0 && rnd.IntN(2) == 0:
						c.instance, parked = parked[0], parked[1:] // a static member comes back
					case rnd.IntN(3) == 0:
						c.instance = fmt.Sprintf("i%d", next)
					}
					switch c.join(); c.lastErr {
					case nil:
					case kerr.UnreleasedInstanceID:
						continue // its previous incarnation is still there
					default:
						t.Fatalf("join: %v", c.lastErr)
					}
					live = append(live, c)
				case n < 12 && len(live) > 0:
					i := rnd.IntN(len(live))
					live[i].mustOK("leave", live[i].leave())
					if live[i].instance != "" {
						parked = append(parked, live[i].instance)
					}
					live = slices.Delete(live, i, i+1)
				case n < 14 && len(live) > 0:
					// A crash: the member stops consuming; its session ends.
					i := rnd.IntN(len(live))
					live = slices.Delete(live, i, i+1)
				case n < 20:
					f.clock.Advance(time.Duration(rnd.IntN(5)) * time.Second)
				case len(live) > 0:
					c := live[rnd.IntN(len(live))]
					if rnd.IntN(3) == 0 {
						c.ack()
					}
					if rnd.IntN(4) == 0 {
						c.keepalive()
					} else {
						c.beat()
					}
					if c.lastErr != nil {
						// Fenced or removed (its session or rebalance
						// timeout ran out while it idled): it gives up
						// everything and joins again.
						c.mustOK("rejoin", c.join())
					}
				}
				for _, c := range live {
					c.selfFence()
				}
				checkDisjoint(t, fmt.Sprintf("step %d", step), live...)
				f.checkOwners(fmt.Sprintf("step %d", step), "g")
			}
			// Everyone heartbeats and revokes until the group settles (and
			// crashed members' sessions end).
			for round := 0; round < 10; round++ {
				f.clock.Advance(6 * time.Second)
				for _, c := range live {
					c.selfFence()
				}
				for _, c := range live {
					c.ack()
					if c.beat(); c.lastErr != nil {
						c.mustOK("rejoin", c.join())
					}
					checkDisjoint(t, "settling", live...)
				}
			}
			d := f.describe("g")
			if len(live) == 0 {
				// Empty, or deleted by the expiry pass (no members, no offsets).
				if d.State != "Empty" && d.ErrorCode != kerr.GroupIDNotFound.Code {
					t.Fatalf("no members, state %s", d.State)
				}
				return
			}
			if d.State != "Stable" || len(d.Members) != len(live) {
				t.Fatalf("not settled: %s with %d members (%d live)", d.State, len(d.Members), len(live))
			}
			total := 0
			for _, c := range live {
				total += len(c.owned)
				if c.epoch != d.AssignmentEpoch {
					t.Fatalf("member %s at epoch %d, target %d", c.id, c.epoch, d.AssignmentEpoch)
				}
			}
			if total != 12 {
				t.Fatalf("members own %d partitions, want 12", total)
			}
		})
	}
}

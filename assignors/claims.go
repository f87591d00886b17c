package assignors

// Values of an owner slice besides member indices, used while claims are
// being settled.
const (
	contested = -2 // claimed at the same, newest generation by two members
	several   = -2 // in a claimants slice: claimed by more than one member
)

// claims is what the members say they own now.
type claims struct {
	// owner[pid] is the member whose claim on pid stands, or noMember. A
	// claim stands if the partition exists, the member subscribes to its
	// topic, and no other member claims it at the same or a newer
	// generation.
	owner []int32
	// claimants[pid] is the one member that claims pid, whether the claim
	// stands or not, or noMember, or several. Only cooperative-sticky
	// needs it; it is nil otherwise.
	claimants []int32
}

// settleClaims reads every member's Owned (and, if readUserData, the sticky
// assignors' user data of a member whose Owned or Generation is missing)
// and settles who keeps what. The result does not depend on the order of
// members or of their claims.
func settleClaims(g *group, readUserData, wantClaimants bool) claims {
	c := claims{owner: g.newOwner()}
	if wantClaimants {
		c.claimants = g.newOwner()
	}
	gen := make([]int32, g.pids()) // generation of owner[pid]'s claim
	for mi, m := range g.members {
		owned, generation := m.Owned, m.Generation
		if readUserData && (len(owned) == 0 || generation <= 0) && len(m.UserData) > 0 {
			if udOwned, udGeneration, ok := decodeStickyUserData(m.UserData); ok {
				if len(owned) == 0 {
					owned = udOwned
				}
				if generation <= 0 {
					generation = udGeneration
				}
			}
		}
		generation = max(generation, 0) // unknown
		self := int32(mi)
		for topic, parts := range owned {
			t, ok := g.topicIndex[topic]
			if !ok {
				continue
			}
			first, n := g.first[t], g.first[t+1]-g.first[t]
			subscribed := g.subscribed(mi, t)
			for _, p := range parts {
				if p < 0 || int(p) >= n {
					continue
				}
				pid := first + int(p)
				if c.claimants != nil {
					switch c.claimants[pid] {
					case noMember:
						c.claimants[pid] = self
					case self:
					default:
						c.claimants[pid] = several
					}
				}
				if !subscribed {
					continue
				}
				switch o := c.owner[pid]; {
				case o == self:
				case o == noMember:
					c.owner[pid], gen[pid] = self, generation
				case generation > gen[pid]:
					c.owner[pid], gen[pid] = self, generation
				case generation == gen[pid]:
					c.owner[pid] = contested
				}
			}
		}
	}
	for pid, o := range c.owner {
		if o == contested {
			c.owner[pid] = noMember
		}
	}
	return c
}

// holdBack takes away from owner every partition that would change hands:
// one given to a member while another member still claims it. This is
// the first half of the cooperative protocol's two-phase rebalance
// (KIP-429): the old owner is told to revoke, and the partition goes to its
// new owner in the next rebalance, once nobody claims it.
func holdBack(owner, claimants []int32) {
	for pid, c := range claimants {
		if c != noMember && c != owner[pid] {
			owner[pid] = noMember
		}
	}
}

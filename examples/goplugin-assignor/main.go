// Command goplugin-assignor is a Weir consumer-group assignor run as a
// go-plugin process: it pins chosen members to chosen partitions.
//
// Its configuration maps a member's group.instance.id (a static member,
// KIP-345) to partition numbers:
//
//	[plugins.config.pins]
//	"reporting-1" = [0, 1]
//	"reporting-2" = [2]
//
// For every topic a pinned member subscribes to, it gets its pinned
// partitions (those that exist, unless an earlier pinned member took
// them). The partitions left over are dealt round robin to the members
// without pins, or, when every member has pins, to all members — so no
// partition is left unconsumed when a pinned member is away. Members are
// taken in a fixed order (by instance id, then member id), so the answer
// is the same whatever order the coordinator lists them in.
//
// Build it with `go build -o pinning .`; see README.md.
package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	"github.com/weirmq/weir/sdk"
	"github.com/weirmq/weir/sdk/goplugin"
)

// pinning is the assignor.
type pinning struct {
	pins map[string][]int32 // instance id → partitions
}

func (*pinning) Name() string { return "pinning" }

func (a *pinning) Assign(ctx context.Context, in sdk.AssignInput) (sdk.Assignment, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	members := slices.Clone(in.Members)
	dynamic := func(m sdk.GroupMember) int { // static members first
		if m.InstanceID == "" {
			return 1
		}
		return 0
	}
	slices.SortFunc(members, func(x, y sdk.GroupMember) int {
		return cmp.Or(cmp.Compare(dynamic(x), dynamic(y)),
			cmp.Compare(x.InstanceID, y.InstanceID), cmp.Compare(x.MemberID, y.MemberID))
	})
	out := make(sdk.Assignment, len(members))
	for _, m := range members {
		out[m.MemberID] = sdk.TopicPartitions{}
	}
	for _, topic := range slices.Sorted(maps.Keys(in.Topics)) {
		n := in.Topics[topic].Partitions
		var subscribed, free []sdk.GroupMember
		for _, m := range members {
			if slices.Contains(m.Topics, topic) {
				subscribed = append(subscribed, m)
				if len(a.pins[m.InstanceID]) == 0 || m.InstanceID == "" {
					free = append(free, m)
				}
			}
		}
		if len(subscribed) == 0 {
			continue
		}
		taken := make([]bool, n)
		for _, m := range subscribed {
			if m.InstanceID == "" {
				continue
			}
			for _, p := range a.pins[m.InstanceID] {
				if p >= 0 && p < n && !taken[p] {
					taken[p] = true
					out[m.MemberID][topic] = append(out[m.MemberID][topic], p)
				}
			}
		}
		if len(free) == 0 {
			free = subscribed
		}
		next := 0
		for p := range n {
			if taken[p] {
				continue
			}
			m := free[next%len(free)]
			out[m.MemberID][topic] = append(out[m.MemberID][topic], p)
			next++
		}
		for _, m := range subscribed {
			slices.Sort(out[m.MemberID][topic])
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// configure reads [plugins.config]; an error stops the plugin from
// loading, and the broker shows it with the plugin's name.
func (a *pinning) configure(_ context.Context, raw json.RawMessage) error {
	var c struct {
		Pins map[string][]int32 `json:"pins"`
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return fmt.Errorf("pinning assignor config: %v (want a [plugins.config.pins] table of instance-id = [partitions])", err)
	}
	for id, ps := range c.Pins {
		if id == "" {
			return fmt.Errorf("pinning assignor config: a pin has an empty instance id")
		}
		for _, p := range ps {
			if p < 0 {
				return fmt.Errorf("pinning assignor config: %q is pinned to partition %d; partitions start at 0", id, p)
			}
		}
	}
	a.pins = c.Pins
	goplugin.Logger().Info("pinning assignor configured", "pinned_members", len(c.Pins))
	return nil
}

func main() {
	a := &pinning{}
	goplugin.Serve(goplugin.Plugins{Assignor: a, Configure: a.configure})
}

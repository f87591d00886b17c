// Command firstassign is a test go-plugin assignor: every partition goes
// to the member whose member ID sorts first among those subscribed.
package main

import (
	"context"
	"slices"

	"github.com/weirmq/weir/sdk"
	"github.com/weirmq/weir/sdk/goplugin"
)

type first struct{}

func (first) Name() string { return "first" }

func (first) Assign(_ context.Context, in sdk.AssignInput) (sdk.Assignment, error) {
	out := sdk.Assignment{}
	for _, m := range in.Members {
		out[m.MemberID] = sdk.TopicPartitions{}
	}
	for topic, md := range in.Topics {
		var subs []string
		for _, m := range in.Members {
			if slices.Contains(m.Topics, topic) {
				subs = append(subs, m.MemberID)
			}
		}
		if len(subs) == 0 {
			continue
		}
		slices.Sort(subs)
		for p := int32(0); p < md.Partitions; p++ {
			out[subs[0]][topic] = append(out[subs[0]][topic], p)
		}
	}
	return out, nil
}

func main() { goplugin.Serve(goplugin.Plugins{Assignor: first{}}) }

package assignor

import (
	"errors"
	"testing"

	"github.com/weirmq/weir/sdk"
	"github.com/weirmq/weir/sdk/wasm"
)

// Everything to the first member, or a decline for an empty group.
func init() {
	Register(func(in sdk.AssignInput) (sdk.Assignment, error) {
		if len(in.Members) == 0 {
			return nil, wasm.ErrDecline
		}
		a := sdk.Assignment{}
		for i, m := range in.Members {
			a[m.MemberID] = sdk.TopicPartitions{}
			if i == 0 {
				for t, meta := range in.Topics {
					for p := range meta.Partitions {
						a[m.MemberID][t] = append(a[m.MemberID][t], p)
					}
				}
			}
		}
		return a, nil
	})
}

func TestHookRoundTrip(t *testing.T) {
	in := sdk.AssignInput{
		Members: []sdk.GroupMember{{MemberID: "m1", Topics: []string{"t"}}, {MemberID: "m2", Topics: []string{"t"}}},
		Topics:  map[string]sdk.TopicMetadata{"t": {Partitions: 3}},
	}
	a, err := CallForTesting(in)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Check(in); err != nil || len(a["m1"]["t"]) != 3 || a["m2"] == nil {
		t.Fatalf("%v: %v", a, err)
	}
	if _, err := CallForTesting(sdk.AssignInput{}); !errors.Is(err, sdk.ErrDecline) {
		t.Fatalf("decline: %v", err)
	}
}

package assignors_test

import (
	"context"
	"fmt"

	"github.com/weirmq/weir/assignors"
	"github.com/weirmq/weir/sdk"
)

func ExampleRegister() {
	reg := sdk.NewRegistry()
	if err := assignors.Register(reg); err != nil {
		fmt.Println(err)
		return
	}

	// The coordinator finds assignors through the registry alone.
	uniform, _ := reg.Assignor("uniform")
	in := sdk.AssignInput{
		Topics: map[string]sdk.TopicMetadata{"orders": {Partitions: 4}},
		Members: []sdk.GroupMember{
			{MemberID: "a", Topics: []string{"orders"}, Owned: sdk.TopicPartitions{"orders": {0, 1, 2, 3}}},
			{MemberID: "b", Topics: []string{"orders"}},
		},
	}
	out, err := uniform.Assign(context.Background(), in)
	fmt.Println(out["a"], out["b"], err)
	// Output: map[orders:[0 1]] map[orders:[2 3]] <nil>
}

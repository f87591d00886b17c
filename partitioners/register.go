package partitioners

import (
	"fmt"

	"github.com/weirmq/weir/sdk"
)

// Default is the name of the partitioner a topic uses when its
// weir.partitioner config is empty.
const Default = "murmur2"

// Register adds the built-in partitioners — murmur2, roundrobin and
// uniform-sticky — to reg. It fails if a name is already taken.
func Register(reg *sdk.Registry) error {
	for _, p := range []sdk.Partitioner{Murmur2(), RoundRobin(), UniformSticky()} {
		if err := reg.RegisterPartitioner(p); err != nil {
			return err
		}
	}
	return nil
}

// checkInput rejects input no partitioner can answer.
func checkInput(in sdk.PartitionInput, out []int32) error {
	if in.NumPartitions < 1 {
		return fmt.Errorf("partitioners: topic %q has %d partitions", in.Topic, in.NumPartitions)
	}
	if len(out) != len(in.Keys) {
		return fmt.Errorf("partitioners: %d keys but room for %d partitions", len(in.Keys), len(out))
	}
	return nil
}

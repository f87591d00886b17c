package partitioners

import (
	"context"
	"sync/atomic"

	"github.com/weirmq/weir/sdk"
)

// uniformSticky places keyed records by murmur2 and keeps the keyless
// records of one call together on one partition (KIP-794's uniform sticky
// partitioner, with Weir's call as the batch).
type uniformSticky struct{ next atomic.Uint32 }

// UniformSticky returns the "uniform-sticky" partitioner: a record with a
// key goes where murmur2 puts it; all keyless records of one Partition call
// go to one partition, and the next call moves on to the next partition, so
// keyless records form few, large batches while spreading evenly over
// time. Safe for concurrent use.
func UniformSticky() sdk.Partitioner { return &uniformSticky{} }

func (*uniformSticky) Name() string { return "uniform-sticky" }

func (p *uniformSticky) Partition(_ context.Context, in sdk.PartitionInput, out []int32) error {
	if err := checkInput(in, out); err != nil {
		return err
	}
	sticky := int32(-1)
	for i, k := range in.Keys {
		if k != nil {
			out[i] = Murmur2Partition(k, in.NumPartitions)
			continue
		}
		if sticky < 0 {
			sticky = int32((p.next.Add(1) - 1) % uint32(in.NumPartitions))
		}
		out[i] = sticky
	}
	return nil
}

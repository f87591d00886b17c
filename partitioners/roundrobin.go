package partitioners

import (
	"context"
	"sync/atomic"

	"github.com/weirmq/weir/sdk"
)

// roundRobin ignores keys and deals records out one partition after the
// other, like the Java client's RoundRobinPartitioner.
type roundRobin struct{ next atomic.Uint32 }

// RoundRobin returns the "roundrobin" partitioner: every record, with a key
// or not, goes to the partition after the previous record's, so load is
// even and keys carry no placement. Safe for concurrent use; concurrent
// callers share one rotation.
func RoundRobin() sdk.Partitioner { return &roundRobin{} }

func (*roundRobin) Name() string { return "roundrobin" }

func (p *roundRobin) Partition(_ context.Context, in sdk.PartitionInput, out []int32) error {
	if err := checkInput(in, out); err != nil {
		return err
	}
	start := p.next.Add(uint32(len(out))) - uint32(len(out))
	for i := range out {
		out[i] = int32((start + uint32(i)) % uint32(in.NumPartitions))
	}
	return nil
}

package goplugin

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/weirmq/weir/assignors"
	"github.com/weirmq/weir/partitioners"
	"github.com/weirmq/weir/sdk"
	"github.com/weirmq/weir/sdk/goplugin/wire"
)

// benchGroup is 1,000 members subscribed to 10 topics of 1,000 partitions
// each (10,000 partitions). With settled set, every member owns what the
// assignor gave it last time: the steady-state rebalance.
func benchGroup(b *testing.B, a sdk.Assignor, settled bool) sdk.AssignInput {
	in := sdk.AssignInput{Topics: map[string]sdk.TopicMetadata{}}
	var topics []string
	for i := range 10 {
		name := fmt.Sprintf("events-%02d", i)
		topics = append(topics, name)
		in.Topics[name] = sdk.TopicMetadata{Partitions: 1000}
	}
	for i := range 1000 {
		in.Members = append(in.Members, sdk.GroupMember{
			MemberID: fmt.Sprintf("consumer-%04d-5f0c1a9e-8a41-4c1e-9d7e-%012d", i, i),
			Topics:   topics,
		})
	}
	if settled {
		res, err := a.Assign(context.Background(), in)
		if err != nil {
			b.Fatal(err)
		}
		for i := range in.Members {
			in.Members[i].Owned = res[in.Members[i].MemberID]
		}
	}
	return in
}

// BenchmarkAssign1000Members: one assignor call for the group above,
// in-process and through the plugin (the test plugin runs the same
// built-in), so the difference is the cost of the plugin boundary.
func BenchmarkAssign1000Members(b *testing.B) {
	for _, name := range []string{"uniform", "range"} {
		var builtin sdk.Assignor
		for _, a := range assignors.All() {
			if a.Name() == name {
				builtin = a
			}
		}
		c, _ := openPlugin(b, "healthy", func(o *Options) {
			o.Config = map[string]any{"assignor": name}
			o.CallTimeout = time.Minute
		})
		remote, _ := c.Assignor()
		for _, settled := range []bool{false, true} {
			in := benchGroup(b, builtin, settled)
			for _, impl := range []sdk.Assignor{builtin, remote} {
				where := "in-process"
				if impl == remote {
					where = "plugin"
				}
				b.Run(fmt.Sprintf("%s/settled=%v/%s", name, settled, where), func(b *testing.B) {
					b.ReportAllocs()
					for b.Loop() {
						if _, err := impl.Assign(context.Background(), in); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
			b.Run(fmt.Sprintf("%s/settled=%v/encode-decode-only", name, settled), func(b *testing.B) {
				// What the wire costs the host for this group: encode the
				// input, decode an assignment of its size.
				res, _ := builtin.Assign(context.Background(), in)
				reply := wire.EncodeAssignment(nil, res)
				var buf []byte
				b.SetBytes(int64(len(reply)))
				b.ReportAllocs()
				for b.Loop() {
					buf = wire.EncodeAssignInput(buf[:0], in)
					if _, err := wire.DecodeAssignment(reply); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(len(buf)), "request-bytes")
				b.ReportMetric(float64(len(reply)), "reply-bytes")
			})
		}
	}
}

// BenchmarkPartition1000Keys: one partitioner call for a batch of 1,000
// keyed records, in-process murmur2 and through the plugin.
func BenchmarkPartition1000Keys(b *testing.B) {
	c, _ := openPlugin(b, "healthy", nil)
	remote, _ := c.Partitioner()
	in := sdk.PartitionInput{Topic: "t", NumPartitions: 64, Keys: make([][]byte, 1000)}
	for i := range in.Keys {
		in.Keys[i] = fmt.Appendf(nil, "user-%08d", i)
	}
	out := make([]int32, len(in.Keys))
	for _, impl := range []sdk.Partitioner{partitioners.Murmur2(), remote} {
		where := "in-process"
		if impl == remote {
			where = "plugin"
		}
		b.Run(where, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := impl.Partition(context.Background(), in, out); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

package server

import (
	"context"
	"fmt"
	"testing"

	"github.com/weirmq/weir/codecs"
	"github.com/weirmq/weir/core/record"
	"github.com/weirmq/weir/partitioners"
	"github.com/weirmq/weir/sdk"
)

// BenchmarkEnforcementCheck measures what weir.partitioner.enforce adds to
// a produce request, per batch of 100 keyed records (100-byte values):
// decoding the batch for its keys, one murmur2 Partition call, and the
// comparison. Uncompressed and zstd batches; ns/op is per batch.
func BenchmarkEnforcementCheck(b *testing.B) {
	reg := sdk.NewRegistry()
	if err := codecs.Register(reg); err != nil {
		b.Fatal(err)
	}
	murmur := partitioners.Murmur2()
	for _, codec := range []string{"none", "zstd"} {
		b.Run(codec, func(b *testing.B) {
			c, _ := reg.CodecByName(codec)
			bld := record.NewBuilder(record.BuilderOptions{Codec: c})
			value := make([]byte, 100)
			for i := range 100 {
				bld.Append(fmt.Appendf(nil, "user-%d", i), value, 1_700_000_000_000, nil)
			}
			batch, err := bld.Build(nil)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.SetBytes(int64(len(batch)))
			for b.Loop() {
				keys, _, err := placementKeys(batch, reg)
				if err != nil {
					b.Fatal(err)
				}
				out := make([]int32, len(keys))
				if err := murmur.Partition(context.Background(), sdk.PartitionInput{Topic: "t", NumPartitions: 12, Keys: keys}, out); err != nil {
					b.Fatal(err)
				}
				for _, p := range out {
					if p < 0 {
						b.Fatal(p)
					}
				}
			}
		})
	}
}

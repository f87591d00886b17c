package record_test

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/weirmq/weir/core/record"
	"github.com/weirmq/weir/sdk"
)

// BenchmarkCompressed builds and reads back a batch of 16 × 1 KiB records
// with each built-in codec; the cost is almost all the codec's.
func BenchmarkCompressed(b *testing.B) {
	reg := registry(b)
	var values [16][]byte
	for i := range values {
		values[i] = bytes.Repeat(fmt.Appendf(nil, "value %d of the benchmark ", i), 64)[:1024]
	}
	for _, id := range []sdk.CompressionID{sdk.CompressionGzip, sdk.CompressionSnappy, sdk.CompressionLZ4, sdk.CompressionZstd} {
		codec, _ := reg.Codec(id)
		b.Run("build/"+id.String(), func(b *testing.B) {
			bl := record.NewBuilder(record.BuilderOptions{})
			dst := make([]byte, 0, 32<<10)
			b.SetBytes(16 * 1024)
			b.ReportAllocs()
			for b.Loop() {
				bl.Reset(record.BuilderOptions{Codec: codec})
				for i, v := range values {
					bl.Append(nil, v, int64(i), nil)
				}
				var err error
				if dst, err = bl.Build(dst[:0]); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("iterate/"+id.String(), func(b *testing.B) {
			bl := record.NewBuilder(record.BuilderOptions{Codec: codec})
			for i, v := range values {
				bl.Append(nil, v, int64(i), nil)
			}
			batch, err := bl.Build(nil)
			if err != nil {
				b.Fatal(err)
			}
			it := &record.Iterator{}
			b.SetBytes(16 * 1024)
			b.ReportAllocs()
			for b.Loop() {
				if err := it.Reset(batch, reg, 1<<20); err != nil {
					b.Fatal(err)
				}
				for _, ok := it.Next(); ok; _, ok = it.Next() {
				}
				if it.Err() != nil {
					b.Fatal(it.Err())
				}
			}
		})
	}
}

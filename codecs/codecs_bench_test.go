package codecs

import (
	"testing"
)

// benchInput is about the size of a producer's batch: 16 KiB of records.
var benchInput = recordish(16 << 10)

func BenchmarkEncode(b *testing.B) {
	for _, c := range All() {
		b.Run(c.Name(), func(b *testing.B) {
			dst, err := c.Encode(nil, benchInput)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.SetBytes(int64(len(benchInput)))
			for b.Loop() {
				dst, _ = c.Encode(dst[:0], benchInput)
			}
			b.ReportMetric(float64(len(dst))/float64(len(benchInput)), "ratio")
		})
	}
}

func BenchmarkDecode(b *testing.B) {
	for _, c := range All() {
		b.Run(c.Name(), func(b *testing.B) {
			enc, err := c.Encode(nil, benchInput)
			if err != nil {
				b.Fatal(err)
			}
			dst := make([]byte, 0, len(benchInput))
			b.ReportAllocs()
			b.SetBytes(int64(len(benchInput)))
			for b.Loop() {
				if dst, err = c.Decode(dst[:0], enc, len(benchInput)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDecodeNilDst is Decode as a caller that does not reuse its
// buffer sees it: one allocation for the output.
func BenchmarkDecodeNilDst(b *testing.B) {
	for _, c := range All() {
		b.Run(c.Name(), func(b *testing.B) {
			enc, err := c.Encode(nil, benchInput)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.SetBytes(int64(len(benchInput)))
			for b.Loop() {
				if _, err := c.Decode(nil, enc, 1<<20); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

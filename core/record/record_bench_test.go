package record

import (
	"bytes"
	"fmt"
	"testing"
)

// benchBatch is an uncompressed batch of 16 records with 1 KiB values:
// about 16.5 KiB. With headers, each record has one.
func benchBatch(b *testing.B, withHeaders bool) []byte {
	bl := NewBuilder(BuilderOptions{})
	value := bytes.Repeat([]byte("v"), 1024)
	var headers []RecordHeader
	if withHeaders {
		headers = []RecordHeader{{Key: "trace", Value: []byte("0123456789abcdef")}}
	}
	for i := range 16 {
		bl.Append(fmt.Appendf(nil, "key-%02d", i), value, 1_700_000_000_000+int64(i), headers)
	}
	batch, err := bl.Build(nil)
	if err != nil {
		b.Fatal(err)
	}
	return batch
}

func BenchmarkValidate16KiB(b *testing.B) {
	batch := benchBatch(b, true)
	b.SetBytes(int64(len(batch)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Validate(batch); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkIterate16Records(b *testing.B) {
	b.Run("no-headers", func(b *testing.B) { benchIterate(b, benchBatch(b, false)) })
	// Each record with headers costs two allocations: its Headers slice and
	// the header key string.
	b.Run("one-header-each", func(b *testing.B) { benchIterate(b, benchBatch(b, true)) })
}

func benchIterate(b *testing.B, batch []byte) {
	b.SetBytes(int64(len(batch)))
	b.ReportAllocs()
	it := &Iterator{}
	for b.Loop() {
		if err := it.Reset(batch, nil, 0); err != nil {
			b.Fatal(err)
		}
		for _, ok := it.Next(); ok; _, ok = it.Next() {
		}
		if it.Err() != nil {
			b.Fatal(it.Err())
		}
	}
}

// BenchmarkVerify16Records walks the same records without building their
// headers: what checking a batch's records costs.
func BenchmarkVerify16Records(b *testing.B) {
	batch := benchBatch(b, true)
	b.SetBytes(int64(len(batch)))
	b.ReportAllocs()
	it := &Iterator{}
	for b.Loop() {
		if err := it.Reset(batch, nil, 0); err != nil {
			b.Fatal(err)
		}
		if err := it.Verify(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBuild16x1KiB(b *testing.B) {
	value := bytes.Repeat([]byte("v"), 1024)
	var keys [16][]byte
	for i := range keys {
		keys[i] = fmt.Appendf(nil, "key-%02d", i)
	}
	bl := NewBuilder(BuilderOptions{})
	dst := make([]byte, 0, 32<<10)
	b.SetBytes(16 * 1024)
	b.ReportAllocs()
	for b.Loop() {
		bl.Reset(BuilderOptions{BaseOffset: 1})
		for i := range 16 {
			bl.Append(keys[i], value, 1_700_000_000_000+int64(i), nil)
		}
		var err error
		if dst, err = bl.Build(dst[:0]); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSetLogAppendTime16KiB(b *testing.B) {
	batch := benchBatch(b, true)
	b.SetBytes(int64(len(batch)))
	b.ReportAllocs()
	ts := int64(0)
	for b.Loop() {
		ts++
		SetLogAppendTime(batch, ts)
	}
}

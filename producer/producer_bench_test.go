package producer

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirmq/weir/partitioners"
)

// BenchmarkHTTPProduce measures the HTTP produce endpoint end to end on an
// in-process node: one POST of 100 keyed records (100-byte values) per op,
// decoded, placed by the topic's partitioner (murmur2), written with
// acks=all and answered. records/s is what one client gets.
func BenchmarkHTTPProduce(b *testing.B) {
	n := startNode(b, "", nil)
	n.createTopic(b, "bench", 12, nil)
	var sb strings.Builder
	sb.WriteString(`{"records": [`)
	value := strings.Repeat("v", 100)
	for i := range 100 {
		if i > 0 {
			sb.WriteString(",")
		}
		fmt.Fprintf(&sb, `{"key": "user-%d", "value": %q}`, i, value)
	}
	sb.WriteString("]}")
	body := sb.String()
	url := "http://" + n.http + "/v1/topics/bench/records"
	b.ReportAllocs()
	for b.Loop() {
		resp, err := http.Post(url, "application/json", strings.NewReader(body))
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
	b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkPartitionerAdapter is the per-record cost of the kgo adapter
// around a partitioner (murmur2 here; a WASM module adds its call), and of
// Place doing the same records in one call.
func BenchmarkPartitionerAdapter(b *testing.B) {
	recs := make([]*kgo.Record, 100)
	for i := range recs {
		recs[i] = &kgo.Record{Topic: "t", Key: fmt.Appendf(nil, "user-%d", i)}
	}
	b.Run("Partitioner", func(b *testing.B) {
		tp := Partitioner(partitioners.Murmur2()).ForTopic("t")
		b.ReportAllocs()
		for b.Loop() {
			for _, r := range recs {
				tp.Partition(r, 12)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(recs)), "ns/record")
	})
	b.Run("Place", func(b *testing.B) {
		p := partitioners.Murmur2()
		b.ReportAllocs()
		for b.Loop() {
			if err := Place(context.Background(), p, 12, recs); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(recs)), "ns/record")
	})
}

package server

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

func TestProduceAndConsumeWithFranzGo(t *testing.T) {
	tb := startBroker(t, "", "")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Auto-created by the producer's Metadata request.
	cl := tb.client(kgo.DefaultProduceTopic("events"), kgo.AllowAutoTopicCreation())
	const n = 500
	for i := 0; i < n; i++ {
		r := &kgo.Record{Key: []byte(fmt.Sprintf("k%d", i%7)), Value: []byte(fmt.Sprintf("v%d", i)),
			Headers: []kgo.RecordHeader{{Key: "h", Value: []byte("x")}}}
		cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
			if err != nil {
				t.Errorf("produce: %v", err)
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	cons := tb.client(kgo.ConsumeTopics("events"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	got := 0
	for got < n {
		fs := cons.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d: %v", got, n, err)
		}
		fs.EachError(func(tp string, p int32, err error) { t.Fatalf("fetch %s/%d: %v", tp, p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			if want := fmt.Sprintf("v%d", r.Offset); string(r.Value) != want {
				t.Fatalf("offset %d has %q, want %q", r.Offset, r.Value, want)
			}
			if len(r.Headers) != 1 || r.Headers[0].Key != "h" {
				t.Fatalf("headers %v", r.Headers)
			}
			got++
		})
	}
}

package server

import (
	"context"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirmq/weir/core/record"
	"github.com/weirmq/weir/sdk"
)

// A topic with compression.type=zstd stores zstd whatever the producer
// sent, and consumers read the same records.
func TestTopicCompressionTypeRecompresses(t *testing.T) {
	tb := startBroker(t, "", "")
	adm := tb.admin()
	defer adm.Close()
	ctx := context.Background()
	zstd := "zstd"
	if _, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"compression.type": &zstd}, "stored"); err != nil {
		t.Fatal(err)
	}
	cl := tb.client(kgo.DefaultProduceTopic("stored"), kgo.ProducerBatchCompression(kgo.GzipCompression()), kgo.ProducerLinger(0))
	defer cl.Close()
	var recs []*kgo.Record
	for i := 0; i < 50; i++ {
		recs = append(recs, &kgo.Record{Key: []byte{byte(i)}, Value: []byte("value value value value")})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}

	req := kmsg.NewPtrFetchRequest()
	req.MaxBytes, req.MaxWaitMillis = 1<<20, 100
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = "stored"
	tds, err := adm.ListTopics(ctx, "stored")
	if err != nil {
		t.Fatal(err)
	}
	ft.TopicID = tds["stored"].ID // kgo sends the newest Fetch, which names topics by ID
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.PartitionMaxBytes = 1 << 20
	ft.Partitions = append(ft.Partitions, fp)
	req.Topics = append(req.Topics, ft)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if ec := resp.Topics[0].Partitions[0].ErrorCode; ec != 0 || resp.ErrorCode != 0 {
		t.Fatalf("fetch error %d/%d", resp.ErrorCode, ec)
	}
	data := resp.Topics[0].Partitions[0].RecordBatches
	n := 0
	for len(data) > 0 {
		batch, rest, err := record.NextBatch(data)
		if err != nil {
			t.Fatal(err)
		}
		data = rest
		h, err := record.Validate(batch)
		if err != nil {
			t.Fatal(err)
		}
		if got := h.Attributes.Compression(); got != sdk.CompressionZstd {
			t.Fatalf("stored batch at %d is %v, want zstd", h.BaseOffset, got)
		}
		n += int(h.NumRecords)
	}
	if n != 50 {
		t.Fatalf("%d records stored, want 50", n)
	}
	cons := tb.client(kgo.ConsumeTopics("stored"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	defer cons.Close()
	got := 0
	for got < 50 {
		fs := cons.PollFetches(ctx)
		if err := fs.Err(); err != nil {
			t.Fatal(err)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if r.Key[0] != byte(got) || string(r.Value) != "value value value value" {
				t.Fatalf("record %d: %q=%q", got, r.Key, r.Value)
			}
			got++
		})
	}
}

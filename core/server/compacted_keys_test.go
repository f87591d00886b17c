package server

import (
	"context"
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

func TestCompactedTopicRefusesKeylessRecords(t *testing.T) {
	tb := startBroker(t, "", "")
	adm := tb.admin()
	defer adm.Close()
	ctx := context.Background()
	compact := "compact"
	if _, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{"cleanup.policy": &compact}, "table"); err != nil {
		t.Fatal(err)
	}
	cl := tb.client(kgo.DefaultProduceTopic("table"), kgo.ProducerBatchCompression(kgo.ZstdCompression()))
	defer cl.Close()
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("no key")}).FirstErr(); !errors.Is(err, kerr.InvalidRecord) {
		t.Fatalf("keyless record to a compacted topic: %v, want INVALID_RECORD", err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Key: []byte("k"), Value: []byte("v")}).FirstErr(); err != nil {
		t.Fatalf("keyed record refused: %v", err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Key: []byte("k")}).FirstErr(); err != nil {
		t.Fatalf("tombstone refused: %v", err)
	}
	end, err := adm.ListEndOffsets(ctx, "table")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := end.Lookup("table", 0); o.Offset != 2 {
		t.Fatalf("end offset %d, want 2: the keyless record must not be written", o.Offset)
	}
}

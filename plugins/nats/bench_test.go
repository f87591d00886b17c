package nats

import (
	"context"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/weirmq/weir/core/config"
)

// The benchmarks compare the bridge's JetStream → topic throughput with
// the rate a plain nats.go pull consumer reads (and acks) the same stream
// on the same machine. Each publishes b.N messages of 1 KiB (with a
// Nats-Msg-Id) before the timer starts; use a fixed count, e.g.
//
//	go test -run XXX -bench 'JetStream' -benchtime 100000x ./plugins/nats/

const benchPayload = 1024

// benchStream starts a NATS server with a stream BENCH holding n 1 KiB
// messages on bench.<0..15>.
func benchStream(b *testing.B, n int) (url string, js jetstream.JetStream) {
	b.Helper()
	ns := startNATS(b, b.TempDir(), -1)
	_, js = connectNATS(b, ns.ClientURL())
	createStream(b, js, "BENCH", "bench.>")
	rng := rand.New(rand.NewPCG(1, 2))
	payload := make([]byte, benchPayload)
	for i := range payload {
		payload[i] = byte(rng.Uint32())
	}
	msgs := make([]*nats.Msg, n)
	for i := range msgs {
		m := nats.NewMsg("bench." + strconv.Itoa(i%16))
		m.Header.Set(HeaderMsgID, "b-"+strconv.Itoa(i))
		m.Data = payload
		msgs[i] = m
	}
	publishAsync(b, js, msgs)
	return ns.ClientURL(), js
}

// BenchmarkJetStreamToTopic measures the bridge: from the first pull to
// the last ack, every message written to a 4-partition topic (key from
// Nats-Msg-Id, headers carried) with acks=all, and acked.
func BenchmarkJetStreamToTopic(b *testing.B) {
	w := startWeir(b)
	w.createTopic(b, "bench", 4, nil)
	url, _ := benchStream(b, b.N)
	b.SetBytes(benchPayload)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	br, err := Open(Options{Routes: []config.NATSRoute{{URL: url, Stream: "BENCH", Durable: "bridge", Topic: "bench",
		Key: "header:Nats-Msg-Id"}}, Brokers: []string{w.addr}, Partitioners: registry(b), Logger: testLogger()})
	if err != nil {
		b.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Minute)
	for br.Status()[0].Acked < uint64(b.N) {
		if time.Now().After(deadline) {
			b.Fatalf("bridge stalled: %+v", br.Status()[0])
		}
		time.Sleep(time.Millisecond)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
	if s := br.Status()[0]; s.Deduplicated > 0 || s.Errors > 0 {
		b.Logf("redeliveries or errors slowed the run: %+v", s)
	}
	br.Close()
	if got := total(w.endOffsets(b, "bench")); got != int64(b.N) {
		b.Fatalf("topic holds %d records, want %d", got, b.N)
	}
}

// BenchmarkJetStreamPlainConsumer is the reference: a plain nats.go pull
// consumer (durable, the library's Consume with 1000-message pulls, as the
// bridge; 250–4000 measured within the noise) reading the same kind of
// stream, acking every message (the bridge's guarantee) or none (reading
// alone).
func BenchmarkJetStreamPlainConsumer(b *testing.B) {
	b.Run("ack=explicit", func(b *testing.B) { benchPlainConsumer(b, jetstream.AckExplicitPolicy) })
	b.Run("ack=none", func(b *testing.B) { benchPlainConsumer(b, jetstream.AckNonePolicy) })
}

func benchPlainConsumer(b *testing.B, ack jetstream.AckPolicy) {
	_, js := benchStream(b, b.N)
	b.SetBytes(benchPayload)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	cons, err := js.CreateOrUpdateConsumer(context.Background(), "BENCH", jetstream.ConsumerConfig{
		Durable: "plain", AckPolicy: ack, MaxAckPending: config.DefaultNATSMaxAckPending,
	})
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	n, bytes := 0, 0
	cc, err := cons.Consume(func(m jetstream.Msg) {
		bytes += len(m.Data())
		if ack != jetstream.AckNonePolicy {
			if err := m.Ack(); err != nil {
				b.Error(err)
			}
		}
		if n++; n == b.N {
			close(done)
		}
	}, jetstream.PullMaxMessages(1000))
	if err != nil {
		b.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Minute):
		b.Fatalf("read %d of %d messages", n, b.N)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	cc.Stop()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
	if bytes != b.N*benchPayload {
		b.Fatalf("read %d bytes, want %d", bytes, b.N*benchPayload)
	}
}

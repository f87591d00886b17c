package codecs

import (
	"bytes"
	"io"
	"testing"

	kgcompress "github.com/segmentio/kafka-go/compress"
	kggzip "github.com/segmentio/kafka-go/compress/gzip"
	kglz4 "github.com/segmentio/kafka-go/compress/lz4"
	kgsnappy "github.com/segmentio/kafka-go/compress/snappy"
	kgzstd "github.com/segmentio/kafka-go/compress/zstd"
	"github.com/weirmq/weir/sdk"
)

// The codecs of a real Kafka client, segmentio/kafka-go, with their own
// framing code (its xerial reader and writer in particular), read what
// Encode writes, and Decode reads what they write.
func TestInteropKafkaGo(t *testing.T) {
	pairs := []struct {
		ours   sdk.Codec
		theirs kgcompress.Codec
	}{
		{NewGzip(), &kggzip.Codec{Level: 6}},
		{NewSnappy(), &kgsnappy.Codec{Framing: kgsnappy.Framed}},
		{NewSnappy(), &kgsnappy.Codec{Framing: kgsnappy.Unframed}},
		{NewLZ4(), &kglz4.Codec{}},
		{NewZstd(), &kgzstd.Codec{}},
	}
	inputs := [][]byte{[]byte("x"), recordish(40 << 10), recordish(300 << 10), incompressible(100 << 10)}
	for _, p := range pairs {
		if int8(p.ours.ID()) != p.theirs.Code() {
			t.Fatalf("pairing %s with kafka-go's %s", p.ours.Name(), p.theirs.Name())
		}
		for _, data := range inputs {
			var buf bytes.Buffer
			w := p.theirs.NewWriter(&buf)
			if _, err := w.Write(data); err != nil {
				t.Fatal(err)
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			got, err := p.ours.Decode(nil, buf.Bytes(), len(data))
			if err != nil || !bytes.Equal(got, data) {
				t.Errorf("%s: Decode of kafka-go's %d-byte output: err = %v, equal = %v", p.ours.Name(), buf.Len(), err, bytes.Equal(got, data))
			}

			enc, err := p.ours.Encode(nil, data)
			if err != nil {
				t.Fatal(err)
			}
			r := p.theirs.NewReader(bytes.NewReader(enc))
			back, err := io.ReadAll(r)
			_ = r.Close()
			if err != nil || !bytes.Equal(back, data) {
				t.Errorf("%s: kafka-go reading Encode's %d-byte output: err = %v, equal = %v", p.ours.Name(), len(enc), err, bytes.Equal(back, data))
			}
		}
	}
}

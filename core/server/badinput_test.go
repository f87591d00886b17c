package server

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// rawFrame is a request frame: size prefix, then key, version,
// correlation id, client id, body.
func rawFrame(key, version int16, body []byte) []byte {
	b := make([]byte, 4, 64+len(body))
	b = binary.BigEndian.AppendUint16(b, uint16(key))
	b = binary.BigEndian.AppendUint16(b, uint16(version))
	b = binary.BigEndian.AppendUint32(b, 7)
	b = binary.BigEndian.AppendUint16(b, 1)
	b = append(b, 'x')
	b = append(b, body...)
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	return b
}

// expectClosed sends data and expects the broker to close the connection
// without answering.
func expectClosed(t *testing.T, addr string, data []byte) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write(data)
	// Half-close: a truncated frame waits for bytes that will never come,
	// and the broker must notice the end of the stream.
	c.(*net.TCPConn).CloseWrite()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, err := io.ReadAll(c)
	if len(n) != 0 {
		t.Fatalf("got %d bytes of response, want the connection closed", len(n))
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("connection left open")
	}
}

// checkServing produces and consumes one record with a normal client.
func checkServing(t *testing.T, tb *testBroker, topic string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cl := tb.client(kgo.AllowAutoTopicCreation(), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("alive")}).FirstErr(); err != nil {
		t.Fatalf("produce after bad input: %v", err)
	}
	fs := cl.PollFetches(ctx)
	if fs.NumRecords() != 1 {
		t.Fatalf("consume after bad input: %d records, errors %v", fs.NumRecords(), fs.Errors())
	}
}

func TestMalformedRequestsCloseTheConnectionAndHarmNothing(t *testing.T) {
	tb := startBroker(t, "", "")
	addr := tb.addr()
	random := make([]byte, 4096)
	rng := rand.New(rand.NewPCG(9, 9))
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	binary.BigEndian.PutUint32(random, 4092)
	for i, tc := range []struct {
		name string
		data []byte
	}{
		{"2 GiB length prefix", []byte{0x7f, 0xff, 0xff, 0xff, 0, 3, 0, 0}},
		{"length over socket.request.max.bytes", []byte{0x10, 0, 0, 0}},
		{"negative length", []byte{0xff, 0xff, 0xff, 0xfe, 1, 2, 3}},
		{"length below a header", []byte{0, 0, 0, 3, 1, 2, 3}},
		{"truncated frame", rawFrame(3, 1, make([]byte, 40))[:20]},
		{"unknown API key", rawFrame(9999, 0, nil)},
		{"unsupported Produce version", rawFrame(0, 99, nil)},
		{"Produce v0 (removed, as in Kafka 4)", rawFrame(0, 0, nil)},
		{"garbage Metadata body", rawFrame(3, 12, []byte{0xff, 0xff, 0xff, 0x7f, 1})},
		{"bad client id length", append([]byte{0, 0, 0, 10, 0, 3, 0, 1, 0, 0, 0, 1, 0x7f, 0x00}, make([]byte, 2)...)},
		{"random bytes", random},
	} {
		t.Run(tc.name, func(t *testing.T) {
			expectClosed(t, addr, tc.data)
			checkServing(t, tb, fmt.Sprintf("alive-%d", i))
		})
	}
}

func TestApiVersionsOfAnUnknownVersionAnswersWithVersion0(t *testing.T) {
	tb := startBroker(t, "", "")
	c, err := net.Dial("tcp", tb.addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(rawFrame(18, 99, nil)); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var size [4]byte
	if _, err := io.ReadFull(c, size[:]); err != nil {
		t.Fatal(err)
	}
	body := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(c, body); err != nil {
		t.Fatal(err)
	}
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.Version = 0
	if err := resp.ReadFrom(body[4:]); err != nil {
		t.Fatal(err)
	}
	if resp.ErrorCode != kerr.UnsupportedVersion.Code || len(resp.ApiKeys) == 0 {
		t.Fatalf("error %d, %d keys", resp.ErrorCode, len(resp.ApiKeys))
	}
}

func TestApiVersionsAdvertisesExactlyTheDispatchTable(t *testing.T) {
	tb := startBroker(t, "", "")
	resp, err := kmsg.NewPtrApiVersionsRequest().RequestWith(context.Background(), tb.client())
	if err != nil {
		t.Fatal(err)
	}
	apis := tb.b.apis()
	if len(resp.ApiKeys) != len(apis) {
		t.Fatalf("advertised %d APIs, the table has %d", len(resp.ApiKeys), len(apis))
	}
	for _, k := range resp.ApiKeys {
		a, ok := apis[k.ApiKey]
		if !ok || a.min != k.MinVersion || a.max != k.MaxVersion {
			t.Fatalf("advertised %s %d-%d, table %+v", kmsg.NameForKey(k.ApiKey), k.MinVersion, k.MaxVersion, a)
		}
		if max := kmsg.RequestForKey(k.ApiKey).MaxVersion(); k.MaxVersion > max {
			t.Fatalf("%s advertised up to v%d, kmsg knows v%d", kmsg.NameForKey(k.ApiKey), k.MaxVersion, max)
		}
	}
}

func TestConnectionLimit(t *testing.T) {
	tb := startBroker(t, "", "[broker]\n\"max.connections\" = 2\n")
	var held []net.Conn
	for i := 0; i < 2; i++ {
		c, err := net.Dial("tcp", tb.addr())
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	time.Sleep(100 * time.Millisecond) // let the broker accept both
	expectClosed(t, tb.addr(), rawFrame(18, 0, nil))
}

func TestIdleConnectionsAreReaped(t *testing.T) {
	tb := startBroker(t, "", "[broker]\n\"connections.max.idle.ms\" = 200\n")
	c, err := net.Dial("tcp", tb.addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("idle connection: read err %v, want EOF", err)
	}
}

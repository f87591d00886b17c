package nats

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirmq/weir/core/config"
)

// testMessages is how many messages TestJetStreamManySubjects publishes:
// WEIR_NATS_TEST_MESSAGES when set, else 100,000 (20,000 under the race
// detector, which slows the bridge about fivefold).
func testMessages(t *testing.T) int {
	if s := os.Getenv("WEIR_NATS_TEST_MESSAGES"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("WEIR_NATS_TEST_MESSAGES=%q is not a positive count", s)
		}
		return n
	}
	if raceEnabled {
		return 20_000
	}
	return 100_000
}

// murmur2Partition is where the Java client (and franz-go's Kafka-compatible
// hasher) puts a keyed record: an implementation independent of the one
// the bridge uses.
func murmur2Partition(key []byte, n int) int32 {
	return int32(kgo.StickyKeyPartitioner(nil).ForTopic("").Partition(&kgo.Record{Key: key}, n))
}

// TestJetStreamManySubjects publishes messages on many subjects to a
// JetStream stream and checks that each lands exactly once in the topic
// its subject names, with the key its subject gives, on the partition the
// topic's partitioner gives, and with its headers, subject, stream and
// sequence; and that every message is acked.
func TestJetStreamManySubjects(t *testing.T) {
	n := testMessages(t)
	w := startWeir(t)
	ns := startNATS(t, t.TempDir(), -1)
	_, js := connectNATS(t, ns.ClientURL())
	createStream(t, js, "ORDERS", "orders.>")
	w.createTopic(t, "orders.eu", 4, nil)
	w.createTopic(t, "orders.us", 3, map[string]string{"weir.partitioner": "roundrobin"})
	// orders.ap is left for the bridge to create (one partition, the default).

	regions := []string{"eu", "us", "ap"}
	msgs := make([]*nats.Msg, n)
	for i := range msgs {
		m := nats.NewMsg(fmt.Sprintf("orders.%s.c%d", regions[i%3], i%1000))
		m.Header.Set(HeaderMsgID, "m-"+strconv.Itoa(i))
		m.Header.Set("trace", "t-"+strconv.Itoa(i))
		m.Data = []byte("payload-" + strconv.Itoa(i))
		msgs[i] = m
	}
	publishAsync(t, js, msgs)

	b := openBridge(t, w, config.NATSRoute{
		URL: ns.ClientURL(), Stream: "ORDERS", Durable: "weir", Topic: "orders.{2}", Key: "token:3", BatchSize: 1000,
	})
	waitFor(t, 60*time.Second, func() bool { return b.Status()[0].Acked >= uint64(n) },
		func() string { return fmt.Sprintf("%+v", b.Status()[0]) })

	seen := make([]bool, n)
	usPartitionsOfKey := map[string]map[int32]bool{}
	usPerPartition := map[int32]int{}
	for _, region := range regions {
		topic := "orders." + region
		want := n/3 + btoi(n%3 > slicesIndex(regions, region))
		for _, r := range w.consume(t, topic, want, 30*time.Second) {
			v := string(r.Value)
			i, err := strconv.Atoi(strings.TrimPrefix(v, "payload-"))
			if err != nil || i < 0 || i >= n {
				t.Fatalf("%s: unexpected value %q", topic, v)
			}
			if seen[i] {
				t.Fatalf("message %d written twice", i)
			}
			seen[i] = true
			subject := fmt.Sprintf("orders.%s.c%d", regions[i%3], i%1000)
			if regions[i%3] != region {
				t.Fatalf("message %d on %s landed in %s", i, subject, topic)
			}
			if want := fmt.Sprintf("c%d", i%1000); string(r.Key) != want {
				t.Fatalf("message %d: key %q, want %q", i, r.Key, want)
			}
			for k, want := range map[string]string{HeaderMsgID: "m-" + strconv.Itoa(i), "trace": "t-" + strconv.Itoa(i),
				HeaderSubject: subject, HeaderStream: "ORDERS"} {
				if got, _ := header(r, k); got != want {
					t.Fatalf("message %d: header %s = %q, want %q", i, k, got, want)
				}
			}
			if seq, _ := header(r, HeaderSeq); seq != strconv.Itoa(i+1) {
				t.Fatalf("message %d: nats.seq = %q, want %d", i, seq, i+1)
			}
			switch region {
			case "eu":
				if want := murmur2Partition(r.Key, 4); r.Partition != want {
					t.Fatalf("message %d, key %s: partition %d, murmur2 gives %d", i, r.Key, r.Partition, want)
				}
			case "us":
				if usPartitionsOfKey[string(r.Key)] == nil {
					usPartitionsOfKey[string(r.Key)] = map[int32]bool{}
				}
				usPartitionsOfKey[string(r.Key)][r.Partition] = true
				usPerPartition[r.Partition]++
			case "ap":
				if r.Partition != 0 {
					t.Fatalf("orders.ap has one partition, got a record on %d", r.Partition)
				}
			}
		}
	}
	for i, ok := range seen {
		if !ok {
			t.Fatalf("message %d is missing", i)
		}
	}
	// roundrobin deals records out evenly whatever their keys: partition
	// counts differ by at most one, and a key recurring often enough is
	// spread over several partitions (murmur2 would keep it on one).
	lo, hi := n, 0
	for p := range int32(3) {
		lo, hi = min(lo, usPerPartition[p]), max(hi, usPerPartition[p])
	}
	if hi-lo > 1 {
		t.Errorf("orders.us uses roundrobin, but its partitions hold %v records", usPerPartition)
	}
	if n >= 3000 {
		spread := 0
		for _, ps := range usPartitionsOfKey {
			if len(ps) > 1 {
				spread++
			}
		}
		if spread == 0 {
			t.Errorf("orders.us uses roundrobin, but every key stayed on one partition")
		}
	}
	waitFor(t, 10*time.Second, func() bool { ok, _ := consumerSettled(t, js, "ORDERS", "weir"); return ok },
		func() string { _, s := consumerSettled(t, js, "ORDERS", "weir"); return s })
	s := b.Status()[0]
	if s.Received != uint64(n) || s.Written != uint64(n) || s.Acked != uint64(n) || s.DeadLettered != 0 || s.Deduplicated != 0 {
		t.Errorf("status = %+v", s)
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func slicesIndex(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}

// TestCoreNATS bridges core NATS subjects through a queue group: records
// carry the reply subject and headers, keys come from the JSON payload,
// and the status, /v1/bridge/status and /metrics count them.
func TestCoreNATS(t *testing.T) {
	const n = 5000
	w := startWeir(t)
	ns := startNATS(t, t.TempDir(), -1)
	nc, _ := connectNATS(t, ns.ClientURL())
	w.createTopic(t, "metrics.cpu", 3, nil)
	reg := prometheus.NewRegistry()
	b, err := Open(Options{
		Routes: []config.NATSRoute{{Name: "metrics", URL: ns.ClientURL(), Subject: "metrics.*.*", Queue: "weir",
			Topic: "metrics.{2}", Key: "json:host.name", LingerMs: 2}},
		Brokers: []string{w.addr}, Partitioners: registry(t), Metrics: reg, Logger: testLogger(),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	waitReady(t, b)

	for i := range n {
		m := nats.NewMsg(fmt.Sprintf("metrics.cpu.h%d", i%7))
		m.Reply = "replies." + strconv.Itoa(i)
		m.Header.Set("unit", "percent")
		m.Data = fmt.Appendf(nil, `{"host": {"name": "host-%d"}, "i": %d}`, i%50, i)
		if err := nc.PublishMsg(m); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	recs := w.consume(t, "metrics.cpu", n, 30*time.Second)
	seen := map[int]bool{}
	for _, r := range recs {
		var doc struct{ I int }
		if err := json.Unmarshal(r.Value, &doc); err != nil {
			t.Fatal(err)
		}
		i := doc.I
		if seen[i] {
			t.Fatalf("message %d written twice", i)
		}
		seen[i] = true
		if want := fmt.Sprintf("host-%d", i%50); string(r.Key) != want {
			t.Fatalf("message %d: key %q, want %q", i, r.Key, want)
		}
		if want := murmur2Partition(r.Key, 3); r.Partition != want {
			t.Fatalf("message %d: partition %d, murmur2 gives %d", i, r.Partition, want)
		}
		for k, want := range map[string]string{"unit": "percent", HeaderSubject: fmt.Sprintf("metrics.cpu.h%d", i%7),
			HeaderReply: "replies." + strconv.Itoa(i)} {
			if got, _ := header(r, k); got != want {
				t.Fatalf("message %d: header %s = %q, want %q", i, k, got, want)
			}
		}
		if _, ok := header(r, HeaderStream); ok {
			t.Fatalf("a core NATS record carries %s", HeaderStream)
		}
	}
	if len(seen) != n {
		t.Fatalf("%d distinct messages of %d", len(seen), n)
	}
	waitFor(t, 5*time.Second, func() bool { return b.Status()[0].Written == n },
		func() string { return fmt.Sprintf("%+v", b.Status()[0]) })
	s := b.Status()[0]
	if s.Received != n || s.Dropped != 0 || s.Acked != 0 || !s.Connected || s.Subject != "metrics.*.*" || s.Queue != "weir" {
		t.Errorf("status = %+v", s)
	}

	// The same numbers over HTTP and in Prometheus.
	srv := httptest.NewServer(b.StatusHandler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var report StatusReport
	if err := json.Unmarshal(body, &report); err != nil || len(report.Routes) != 1 || report.Routes[0].Written != n || report.Routes[0].Name != "metrics" {
		t.Fatalf("status JSON %s (%v)", body, err)
	}
	for metric, want := range map[string]float64{"weir_bridge_nats_received_total": n, "weir_bridge_nats_written_total": n,
		"weir_bridge_nats_dropped_total": 0, "weir_bridge_nats_connected": 1} {
		if got := gauge(t, reg, metric, "metrics"); got != want {
			t.Errorf("%s = %v, want %v", metric, got, want)
		}
	}
	b.Close()
	if mfs, err := reg.Gather(); err != nil || len(mfs) != 0 {
		t.Errorf("after Close %d metric families remain registered (%v)", len(mfs), err)
	}
}

// TestCoreSlowConsumerDropsAreCounted: core NATS is at most once. With
// Kafka gone the route cannot write, its buffer (pending_limit) fills and
// the client drops the rest; every message published is accounted for as
// received, buffered or dropped, and at Close all are dropped.
func TestCoreSlowConsumerDropsAreCounted(t *testing.T) {
	const n = 500
	w := startWeir(t)
	ns := startNATS(t, t.TempDir(), -1)
	nc, _ := connectNATS(t, ns.ClientURL())
	b, err := Open(Options{Routes: []config.NATSRoute{{URL: ns.ClientURL(), Subject: "drop.>", Topic: "drop.{2}",
		PendingLimit: 10, BatchSize: 1}}, Brokers: []string{w.addr}, Partitioners: registry(t), Logger: testLogger(),
		FlushTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	waitReady(t, b)
	w.stop() // the route's first message now waits for a topic it cannot create
	for i := range n {
		if err := nc.Publish("drop.a", []byte(strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() bool {
		s := b.Status()[0]
		return s.Received+s.Dropped+uint64(s.Lag) == n && s.Dropped > 0
	}, func() string { return fmt.Sprintf("%+v", b.Status()[0]) })
	b.Close()
	if s := b.Status()[0]; s.Dropped != n || s.Written != 0 || s.Lag != 0 {
		t.Errorf("after Close: %+v; want all %d dropped", s, n)
	}
}

// gauge returns the value of a metric with label route=route.
func gauge(t *testing.T, reg *prometheus.Registry, name, route string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "route" && l.GetValue() == route {
					if c := m.GetCounter(); c != nil {
						return c.GetValue()
					}
					return m.GetGauge().GetValue()
				}
			}
		}
	}
	t.Fatalf("no metric %s{route=%q}", name, route)
	return 0
}

// TestPoisonMessagesGoToTheDeadLetterTopic sends messages whose key cannot
// be extracted, whose topic cannot be rendered, and one too large for its
// topic: each reaches the dead-letter topic with the reason and the
// original subject, is acked, and the route carries on with the messages
// after them.
func TestPoisonMessagesGoToTheDeadLetterTopic(t *testing.T) {
	w := startWeir(t)
	ns := startNATS(t, t.TempDir(), -1)
	_, js := connectNATS(t, ns.ClientURL())
	createStream(t, js, "EVENTS", "events.>")
	w.createTopic(t, "events.small", 1, map[string]string{"max.message.bytes": "2000"})
	b := openBridge(t, w, config.NATSRoute{Name: "ev", URL: ns.ClientURL(), Stream: "EVENTS", Durable: "weir",
		Topic: "events.{2}", Key: "json:user.id", DeadLetterTopic: "events-dlq"})

	type pub struct {
		subject, data string
		poison        string // expected reason prefix; "" for good messages
	}
	pubs := []pub{
		{"events.a", `{"user": {"id": "u1"}}`, ""},
		{"events.a", `not json`, "key: json:user.id: the payload is not JSON"},
		{"events.a", `{"user": {}}`, `key: json:user.id: no field "id" at user`},
		{"events.a", `{"user": {"id": "u2"}}`, ""},
		{"events.bad:token", `{"user": {"id": "u3"}}`, `topic: topic "events.{2}" gives topic name "events.bad:token", which contains ":"`},
		{"events.small", `{"user": {"id": "u4"}, "pad": "` + strings.Repeat("x", 3000) + `"}`, "too large: the record takes"},
		{"events.small", `{"user": {"id": "u5"}}`, ""},
		{"events.a", `{"user": {"id": "u6"}}`, ""},
	}
	var msgs []*nats.Msg
	for _, p := range pubs {
		msgs = append(msgs, &nats.Msg{Subject: p.subject, Data: []byte(p.data)})
	}
	publishAsync(t, js, msgs)

	waitFor(t, 20*time.Second, func() bool { s := b.Status()[0]; return s.Acked == uint64(len(pubs)) },
		func() string { return fmt.Sprintf("%+v", b.Status()[0]) })
	dlq := w.consume(t, "events-dlq", 4, 10*time.Second)
	i := 0
	for seq, p := range pubs {
		if p.poison == "" {
			continue
		}
		r := dlq[i]
		i++
		reason, _ := header(r, HeaderDLQReason)
		subject, _ := header(r, HeaderSubject)
		if !strings.HasPrefix(reason, p.poison) || subject != p.subject {
			t.Errorf("dead letter %d: reason %q (want prefix %q), subject %q (want %q)", i, reason, p.poison, subject, p.subject)
		}
		if got, _ := header(r, HeaderSeq); got != strconv.Itoa(seq+1) {
			t.Errorf("dead letter %d: nats.seq %q, want %d", i, got, seq+1)
		}
		if strings.HasPrefix(p.poison, "too large") {
			if size, _ := header(r, HeaderDLQSize); r.Value != nil || size != strconv.Itoa(len(p.data)) {
				t.Errorf("too-large dead letter: value of %d bytes, size header %q; want no value and size %d", len(r.Value), size, len(p.data))
			}
			if topic, _ := header(r, HeaderDLQTopic); topic != "events.small" {
				t.Errorf("too-large dead letter: intended topic %q", topic)
			}
		} else if string(r.Value) != p.data {
			t.Errorf("dead letter %d: value %q, want %q", i, r.Value, p.data)
		}
	}
	good := w.consume(t, "events.a", 3, 10*time.Second)
	for j, want := range []string{"u1", "u2", "u6"} {
		if string(good[j].Key) != want {
			t.Errorf("events.a record %d: key %q, want %q", j, good[j].Key, want)
		}
	}
	if small := w.consume(t, "events.small", 1, 10*time.Second); string(small[0].Key) != "u5" {
		t.Errorf("events.small: key %q", small[0].Key)
	}
	s := b.Status()[0]
	if s.DeadLettered != 4 || s.Written != 4 || s.Acked != 8 {
		t.Errorf("status = %+v", s)
	}
	waitFor(t, 10*time.Second, func() bool { ok, _ := consumerSettled(t, js, "EVENTS", "weir"); return ok },
		func() string { _, s := consumerSettled(t, js, "EVENTS", "weir"); return s })
}

// TestRefusedRecordsAreDeadLettered: records the cluster refuses for good
// (here INVALID_TIMESTAMP: the topic takes no timestamp from the past, and
// a JetStream message's is when the stream stored it) go to the
// dead-letter topic with the cluster's reason, and are acked.
func TestRefusedRecordsAreDeadLettered(t *testing.T) {
	const n = 5
	w := startWeir(t)
	ns := startNATS(t, t.TempDir(), -1)
	_, js := connectNATS(t, ns.ClientURL())
	createStream(t, js, "OLD", "old")
	w.createTopic(t, "strict", 1, map[string]string{"message.timestamp.before.max.ms": "0"})
	var msgs []*nats.Msg
	for i := range n {
		msgs = append(msgs, &nats.Msg{Subject: "old", Data: []byte(strconv.Itoa(i))})
	}
	publishAsync(t, js, msgs)
	time.Sleep(50 * time.Millisecond) // every stored time is now in the past
	b := openBridge(t, w, config.NATSRoute{URL: ns.ClientURL(), Stream: "OLD", Durable: "weir", Topic: "strict"})
	waitFor(t, 20*time.Second, func() bool { return b.Status()[0].Acked == n },
		func() string { return fmt.Sprintf("%+v", b.Status()[0]) })
	for i, r := range w.consume(t, "strict.dlq", n, 10*time.Second) {
		reason, _ := header(r, HeaderDLQReason)
		if !strings.HasPrefix(reason, "refused by the cluster: INVALID_TIMESTAMP") || string(r.Value) != strconv.Itoa(i) {
			t.Errorf("dead letter %d: value %q, reason %q", i, r.Value, reason)
		}
	}
	if s := b.Status()[0]; s.DeadLettered != n || s.Written != 0 {
		t.Errorf("status = %+v", s)
	}
	if got := total(w.endOffsets(t, "strict")); got != 0 {
		t.Errorf("the strict topic holds %d records", got)
	}
}

// TestRedeliveriesAreNotWrittenTwice: a second bridge reading the same
// stream with a new durable consumer is delivered every message again;
// the window it loads from the topic (and the dead-letter topic) at start
// makes it ack them all without writing any.
func TestRedeliveriesAreNotWrittenTwice(t *testing.T) {
	const n = 2000
	w := startWeir(t)
	ns := startNATS(t, t.TempDir(), -1)
	_, js := connectNATS(t, ns.ClientURL())
	createStream(t, js, "S", "s.>")
	w.createTopic(t, "t", 3, nil)
	var msgs []*nats.Msg
	for i := range n {
		m := nats.NewMsg("s." + strconv.Itoa(i%10))
		if i%2 == 0 { // half carry a Nats-Msg-Id, half are known by their sequence
			m.Header.Set(HeaderMsgID, "id-"+strconv.Itoa(i))
		}
		if i != n-1 { // the last has no key: poison, dead-lettered once
			m.Header.Set("k", strconv.Itoa(i%10))
		}
		m.Data = []byte(strconv.Itoa(i))
		msgs = append(msgs, m)
	}
	publishAsync(t, js, msgs)
	route := config.NATSRoute{URL: ns.ClientURL(), Stream: "S", Durable: "first", Topic: "t", Key: "header:k",
		MaxAckPending: 1000, DedupeWindow: 5000}
	first, err := Open(Options{Routes: []config.NATSRoute{route}, Brokers: []string{w.addr}, Partitioners: registry(t), Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, func() bool { return first.Status()[0].Acked == n },
		func() string { return fmt.Sprintf("%+v", first.Status()[0]) })
	first.Close()
	if got, dl := total(w.endOffsets(t, "t")), total(w.endOffsets(t, "t.dlq")); got != n-1 || dl != 1 {
		t.Fatalf("first bridge wrote %d records and %d dead letters, want %d and 1", got, dl, n-1)
	}

	route.Durable = "second"
	second := openBridge(t, w, route)
	waitFor(t, 30*time.Second, func() bool { return second.Status()[0].Acked == n },
		func() string { return fmt.Sprintf("%+v", second.Status()[0]) })
	s := second.Status()[0]
	if s.Written != 0 || s.Deduplicated != n {
		t.Errorf("second bridge: %+v; want nothing written and %d deduplicated", s, n)
	}
	if got, dl := total(w.endOffsets(t, "t")), total(w.endOffsets(t, "t.dlq")); got != n-1 || dl != 1 {
		t.Errorf("after the redelivery: %d records and %d dead letters, want %d and 1", got, dl, n-1)
	}
}

// TestNATSServerRestart stops the NATS server and starts it again on the
// same port and store: both a JetStream and a core NATS route reconnect by
// themselves, and every JetStream message is in the topic exactly once.
func TestNATSServerRestart(t *testing.T) {
	w := startWeir(t)
	store := t.TempDir()
	ns := startNATS(t, store, -1)
	port := ns.Addr().(*net.TCPAddr).Port
	url := ns.ClientURL()
	_, js := connectNATS(t, url)
	createStream(t, js, "R", "r.>")
	b := openBridge(t, w,
		config.NATSRoute{Name: "js", URL: url, Stream: "R", Durable: "weir", Topic: "r", Key: "subject"},
		config.NATSRoute{Name: "core", URL: url, Subject: "c.>", Topic: "c"})
	waitReady(t, b)
	nc, _ := connectNATS(t, url)

	publish := func(from, to int) {
		var msgs []*nats.Msg
		for i := from; i < to; i++ {
			msgs = append(msgs, &nats.Msg{Subject: "r." + strconv.Itoa(i), Data: []byte(strconv.Itoa(i))})
			if err := nc.Publish("c.x", []byte(strconv.Itoa(i))); err != nil {
				t.Fatal(err)
			}
		}
		publishAsync(t, js, msgs)
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	publish(0, 500)
	waitFor(t, 20*time.Second, func() bool { s := b.Status(); return s[0].Acked == 500 && s[1].Written == 500 },
		func() string { return fmt.Sprintf("%+v", b.Status()) })

	ns.Shutdown()
	ns.WaitForShutdown()
	waitFor(t, 10*time.Second, func() bool { return !b.Status()[0].Connected && !b.Status()[1].Connected },
		func() string { return "routes still connected after the server stopped" })
	startNATS(t, store, port)
	waitReady(t, b)

	// The core subscription comes back with the connection: probe until a
	// message gets through, then publish the rest.
	waitFor(t, 20*time.Second, func() bool {
		_ = nc.Publish("c.probe", []byte("probe"))
		return b.Status()[1].Written > 500
	}, func() string { return fmt.Sprintf("core route after the restart: %+v", b.Status()[1]) })
	publish(500, 1000)
	waitFor(t, 30*time.Second, func() bool { return b.Status()[0].Acked >= 1000 },
		func() string { return fmt.Sprintf("%+v", b.Status()) })
	recs := w.consume(t, "r", 1000, 10*time.Second)
	seen := map[string]int{}
	for _, r := range recs {
		seen[string(r.Value)]++
	}
	for i := range 1000 {
		if c := seen[strconv.Itoa(i)]; c != 1 {
			t.Errorf("JetStream message %d is in the topic %d times", i, c)
		}
	}
	waitFor(t, 20*time.Second, func() bool { return b.Status()[1].Written >= 1000 },
		func() string { return fmt.Sprintf("core route after the restart: %+v", b.Status()[1]) })
}

// TestBadRouteStopsOpen: a route that cannot work stops Open with an
// error naming it, and nothing runs.
func TestBadRouteStopsOpen(t *testing.T) {
	reg := registry(t)
	good := config.NATSRoute{Subject: "a", Topic: "t"}
	for _, tc := range []struct {
		route config.NATSRoute
		want  string
	}{
		{config.NATSRoute{Name: "k", Subject: "a", Topic: "t", Key: "tokn:2"}, `nats bridge: [[bridge.nats]] #2 "k": key = "tokn:2": unknown key source "tokn"`},
		{config.NATSRoute{Subject: "a", Topic: "t/x"}, `nats bridge: [[bridge.nats]] #2 "nats-2": topic = "t/x": topic name "t/x", which contains "/"`},
		{config.NATSRoute{Stream: "S", Topic: "t"}, `nats bridge: [[bridge.nats]] #2 "nats-2": a stream route needs a durable consumer name`},
		{config.NATSRoute{Subject: "a", Topic: "t", Credentials: filepath.Join(t.TempDir(), "none.creds")}, `nats bridge: [[bridge.nats]] #2 "nats-2": credentials: open `},
		{config.NATSRoute{Subject: "a", Topic: "t", TLSCA: filepath.Join(t.TempDir(), "ca.pem")}, `nats bridge: [[bridge.nats]] #2 "nats-2": tls_ca: open `},
		{config.NATSRoute{Name: "nats-1", Subject: "a", Topic: "t"}, `nats bridge: [[bridge.nats]] #2: name "nats-1" is also route #1's`},
	} {
		_, err := Open(Options{Routes: []config.NATSRoute{good, tc.route}, Brokers: []string{"127.0.0.1:1"}, Partitioners: reg})
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("Open = %v, want %s...", err, tc.want)
		}
	}
	if _, err := Open(Options{Routes: []config.NATSRoute{good}, Partitioners: reg}); err == nil {
		t.Error("Open without brokers succeeded")
	}
}

// TestCloseWaitsForRecordsInFlight closes a JetStream route mid-stream:
// every record it wrote is acked, and a new bridge writes the rest, none
// twice.
func TestCloseWaitsForRecordsInFlight(t *testing.T) {
	const n = 3000
	w := startWeir(t)
	ns := startNATS(t, t.TempDir(), -1)
	_, js := connectNATS(t, ns.ClientURL())
	createStream(t, js, "F", "f")
	var msgs []*nats.Msg
	for i := range n {
		msgs = append(msgs, &nats.Msg{Subject: "f", Data: []byte(strconv.Itoa(i))})
	}
	publishAsync(t, js, msgs)
	b := openBridge(t, w, config.NATSRoute{URL: ns.ClientURL(), Stream: "F", Durable: "weir", Topic: "f"})
	waitFor(t, 20*time.Second, func() bool { return b.Status()[0].Received > 0 }, func() string { return "nothing received" })
	b.Close() // mid-stream
	s := b.Status()[0]
	if s.Acked != s.Written {
		t.Errorf("after Close: %d written but %d acked", s.Written, s.Acked)
	}
	if got := total(w.endOffsets(t, "f")); got != int64(s.Written) {
		t.Errorf("topic holds %d records, the bridge wrote %d", got, s.Written)
	}
	// A new bridge picks up the rest, and nothing twice.
	b2 := openBridge(t, w, config.NATSRoute{URL: ns.ClientURL(), Stream: "F", Durable: "weir", Topic: "f"})
	waitFor(t, 30*time.Second, func() bool { return total(w.endOffsets(t, "f")) == n },
		func() string { return fmt.Sprintf("%d records, %+v", total(w.endOffsets(t, "f")), b2.Status()[0]) })
	waitFor(t, 10*time.Second, func() bool { ok, _ := consumerSettled(t, js, "F", "weir"); return ok },
		func() string { _, s := consumerSettled(t, js, "F", "weir"); return s })
	recs := w.consume(t, "f", n, 10*time.Second)
	seen := map[string]bool{}
	for _, r := range recs {
		if seen[string(r.Value)] {
			t.Fatalf("message %s written twice", r.Value)
		}
		seen[string(r.Value)] = true
	}
}

package producer

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirmq/weir/partitioners"
)

// postJSON posts body to the node's produce endpoint for topic and
// returns the status and the raw answer.
func (n *node) postRecords(t *testing.T, topic, body string) (int, []byte) {
	t.Helper()
	resp, err := http.Post("http://"+n.http+"/v1/topics/"+topic+"/records", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// TestHTTPProducePlacesRecordsWithTheTopicsPartitioner: records without a
// partition go where the topic's weir.partitioner puts them (and so pass
// weir.partitioner.enforce), records with one go there; keys, values
// (string, JSON, null), headers and timestamps arrive as sent, in both
// encodings; the answer gives each record's partition and offset in order.
func TestHTTPProducePlacesRecordsWithTheTopicsPartitioner(t *testing.T) {
	n := startNode(t, "", nil)
	n.createTopic(t, "orders", 4, map[string]string{"weir.partitioner": "first-byte", "weir.partitioner.enforce": "true"})

	status, body := n.postRecords(t, "orders", `{"records": [
		{"key": "a-1", "value": "first", "headers": {"h": "x", "null": null}, "timestamp": 1700000000123},
		{"key": "b-2", "value": {"amount": 3, "tags": ["x"]}},
		{"key": "c-3", "value": null},
		{"key": "d-4", "value": "pinned", "partition": 0}]}`)
	if status != http.StatusOK {
		t.Fatalf("status %d: %s", status, body)
	}
	var pr ProduceResponse
	if err := json.Unmarshal(body, &pr); err != nil {
		t.Fatal(err)
	}
	// 'a' = 97 → 1, 'b' → 2, 'c' → 3, 'd' → 0 (of 4).
	if pr.Topic != "orders" || pr.Partitioner != "first-byte" || len(pr.Records) != 4 {
		t.Fatalf("answer %+v", pr)
	}
	for i, want := range []int32{1, 2, 3, 0} {
		if r := pr.Records[i]; r.Partition != want || r.Error != "" {
			t.Errorf("record %d: %+v, want partition %d", i, r, want)
		}
	}
	if pr.Records[0].Offset != 0 || pr.Records[3].Offset != 0 {
		t.Errorf("offsets %d and %d, want 0 and 0", pr.Records[0].Offset, pr.Records[3].Offset)
	}

	// Asking for a partition the enforced partitioner would not choose is
	// the client's mistake: the broker refuses it.
	status, body = n.postRecords(t, "orders", `{"records": [{"key": "d-5", "partition": 1}]}`)
	if err := json.Unmarshal(body, &pr); err != nil || status != http.StatusBadRequest || pr.Records[0].ErrorCode != "INVALID_RECORD" {
		t.Fatalf("misplaced: %d %s", status, body)
	}

	status, body = n.postRecords(t, "orders", `{"encoding": "base64", "records": [
		{"key": "YQD/", "value": "AAEC", "headers": {"bin": "/w=="}}]}`)
	if status != http.StatusOK {
		t.Fatalf("base64: status %d: %s", status, body)
	}

	got := map[string]*kgo.Record{}
	for _, r := range n.consume(t, "orders", 5) {
		got[string(r.Key)] = r
	}
	a := got["a-1"]
	if a == nil || string(a.Value) != "first" || a.Partition != 1 || a.Timestamp.UnixMilli() != 1700000000123 ||
		len(a.Headers) != 2 || a.Headers[0].Key != "h" || string(a.Headers[0].Value) != "x" || a.Headers[1].Key != "null" || a.Headers[1].Value != nil {
		t.Errorf("a-1 read back as %+v", a)
	}
	if b := got["b-2"]; b == nil || string(b.Value) != `{"amount":3,"tags":["x"]}` {
		t.Errorf("b-2 read back as %+v", b)
	}
	if c := got["c-3"]; c == nil || c.Value != nil || c.Partition != 3 {
		t.Errorf("c-3 (a tombstone) read back as %+v", c)
	}
	if d := got["d-4"]; d == nil || d.Partition != 0 {
		t.Errorf("d-4 (partition 0 asked) read back as %+v", d)
	}
	bin := got["a\x00\xff"]
	if bin == nil || !bytes.Equal(bin.Value, []byte{0, 1, 2}) || string(bin.Headers[0].Value) != "\xff" || bin.Partition != 1 {
		t.Errorf("base64 record read back as %+v", bin)
	}
}

// TestHTTPProduceRefusals: each bad request is refused as a whole with a
// status and a message saying what is wrong, and writes nothing.
func TestHTTPProduceRefusals(t *testing.T) {
	n := startNode(t, "[broker]\n\"auto.create.topics.enable\" = false\n", nil)
	n.createTopic(t, "t", 2, nil)
	n.createTopicUnchecked(t, "orphan", 2, map[string]string{"weir.partitioner": "gone"})
	n.prod.opts.MaxBodyBytes = 1 << 10
	for _, tc := range []struct {
		name, topic, body string
		status            int
		want              string
	}{
		{"malformed", "t", `{"records": [`, 400, "malformed JSON"},
		{"unknown field", "t", `{"records": [{"key": "k", "valu": "v"}]}`, 400, `unknown field "valu"`},
		{"no records", "t", `{"records": []}`, 400, "no records"},
		{"bad encoding", "t", `{"encoding": "hex", "records": [{"value": "v"}]}`, 400, `"encoding" must be "string" or "base64"`},
		{"bad base64", "t", `{"encoding": "base64", "records": [{"value": "!!"}]}`, 400, "record 0: value: not base64"},
		{"number key", "t", `{"records": [{"key": 5, "value": "v"}]}`, 400, "record 0: key: must be a string or null"},
		{"negative partition", "t", `{"records": [{"value": "v", "partition": -2}]}`, 400, "record 0: partition -2"},
		{"partition out of range", "t", `{"records": [{"value": "v"}, {"value": "v", "partition": 2}]}`, 400,
			`record 1 asks for partition 2, but topic "t" has 2 partitions`},
		{"unknown topic", "nope", `{"records": [{"value": "v"}]}`, 404, `unknown topic "nope"`},
		{"too large", "t", `{"records": [{"value": "` + strings.Repeat("x", 2000) + `"}]}`, 413, "request body over 1024 bytes"},
		{"partitioner not registered", "orphan", `{"records": [{"key": "k", "value": "v"}]}`, 500,
			`topic "orphan" names weir.partitioner "gone", which this node does not have`},
	} {
		status, body := n.postRecords(t, tc.topic, tc.body)
		var eb errorBody
		if err := json.Unmarshal(body, &eb); err != nil || status != tc.status || !strings.Contains(eb.Error, tc.want) {
			t.Errorf("%s: %d %s\nwant %d and an error containing %q", tc.name, status, body, tc.status, tc.want)
		}
	}
	ends, err := kadmEnds(t, n, "t")
	if err != nil || ends != 0 {
		t.Errorf("refused requests wrote %d records (%v)", ends, err)
	}
}

// TestHTTPProduceReportsRecordErrors: a record the broker refuses comes
// back with its Kafka error and a 4xx status, the others with offsets.
func TestHTTPProduceReportsRecordErrors(t *testing.T) {
	n := startNode(t, "", nil)
	n.createTopic(t, "small", 1, map[string]string{"max.message.bytes": "200"})
	noise := make([]byte, 600)
	rand.Read(noise) // incompressible: kgo compresses batches
	status, body := n.postRecords(t, "small", `{"records": [{"value": "`+base64.StdEncoding.EncodeToString(noise)+`"}]}`)
	var pr ProduceResponse
	if err := json.Unmarshal(body, &pr); err != nil {
		t.Fatal(err)
	}
	if status != http.StatusBadRequest || len(pr.Records) != 1 || pr.Records[0].ErrorCode != "MESSAGE_TOO_LARGE" || pr.Records[0].Offset != -1 {
		t.Fatalf("status %d: %s", status, body)
	}
}

// kadmEnds returns the sum of topic's log end offsets.
func kadmEnds(t *testing.T, n *node, topic string) (int64, error) {
	t.Helper()
	ends, err := kadm.NewClient(n.client(t)).ListEndOffsets(testCtx(t), topic)
	if err != nil {
		return 0, err
	}
	var sum int64
	ends.Each(func(o kadm.ListedOffset) { sum += o.Offset })
	return sum, nil
}

// TestPartitionerEndpointAndFetch: GET /v1/topics/{topic}/partitioner
// names the topic's partitioner and its source; FetchPartitioner turns a
// built-in into the local built-in, refuses a go-plugin partitioner (which
// cannot run outside the broker) and a module that does not load.
func TestPartitionerEndpointAndFetch(t *testing.T) {
	mods := fakeModules{"cmdpart": {source: SourceCommand}, "junk": {source: SourceWASM, module: []byte("not wasm")}}
	n := startNode(t, "", mods)
	n.createTopic(t, "plain", 3, nil)
	n.createTopic(t, "rr", 3, map[string]string{"weir.partitioner": "roundrobin"})
	n.createTopicUnchecked(t, "viacmd", 3, map[string]string{"weir.partitioner": "cmdpart"})
	n.createTopicUnchecked(t, "junky", 3, map[string]string{"weir.partitioner": "junk"})
	ctx := testCtx(t)

	f, err := FetchPartitioner(ctx, n.http, "plain", FetchOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if f.Info.Partitioner != "murmur2" || f.Info.Source != SourceBuiltin || f.Info.Partitions != 3 || f.Partitioner.Name() != "murmur2" {
		t.Errorf("plain: %+v %v", f.Info, f.Partitioner.Name())
	}
	f.Close(ctx)
	if f, err = FetchPartitioner(ctx, "http://"+n.http+"/", "rr", FetchOptions{}); err != nil || f.Partitioner.Name() != "roundrobin" {
		t.Errorf("rr: %v %v", f, err)
	}
	if _, err := FetchPartitioner(ctx, n.http, "viacmd", FetchOptions{}); err == nil || !strings.Contains(err.Error(), `partitioner "cmdpart", a go-plugin command that runs only inside the broker`) {
		t.Errorf("viacmd: %v", err)
	}
	if _, err := FetchPartitioner(ctx, n.http, "junky", FetchOptions{}); err == nil || !strings.Contains(err.Error(), `loading WASM partitioner "junk" of topic "junky"`) {
		t.Errorf("junky: %v", err)
	}
	if _, err := FetchPartitioner(ctx, n.http, "missing", FetchOptions{}); err == nil || !strings.Contains(err.Error(), `404 Not Found: producer: unknown topic "missing"`) {
		t.Errorf("missing: %v", err)
	}
	if _, err := FetchPartitioner(ctx, "127.0.0.1:1", "plain", FetchOptions{}); err == nil || !strings.Contains(err.Error(), "from 127.0.0.1:1") {
		t.Errorf("unreachable: %v", err)
	}

	// What the endpoint sends for a WASM plugin: the bytes, their
	// checksum and the plugin's config.
	resp, err := http.Get("http://" + n.http + "/v1/topics/junky/partitioner")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var info PartitionerInfo
	if err := json.NewDecoder(resp.Body).Decode(&info); err != nil {
		t.Fatal(err)
	}
	if info.Source != SourceWASM || string(info.Module) != "not wasm" || len(info.ModuleSHA256) != 64 || info.Config["k"] != "v" {
		t.Errorf("junky's partitioner: %+v", info)
	}
}

// A checksum that does not match the module is refused.
func TestFetchRefusesAModuleThatDoesNotMatchItsChecksum(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, PartitionerInfo{Topic: "t", Partitions: 1, Partitioner: "p", Source: SourceWASM,
			Module: []byte("\x00asm"), ModuleSHA256: strings.Repeat("0", 64)})
	}))
	defer srv.Close()
	if _, err := FetchPartitioner(context.Background(), srv.URL, "t", FetchOptions{}); err == nil || !strings.Contains(err.Error(), "does not match its checksum") {
		t.Fatalf("FetchPartitioner: %v", err)
	}
}

type fakeModule struct {
	source string
	module []byte
}

type fakeModules map[string]fakeModule

func (f fakeModules) PluginSource(name string) (string, bool) {
	m, ok := f[name]
	return m.source, ok
}

func (f fakeModules) PluginModule(name string) ([]byte, map[string]any, error) {
	m, ok := f[name]
	if !ok || m.source != SourceWASM {
		return nil, nil, errors.New("not a wasm plugin")
	}
	return m.module, map[string]any{"k": "v"}, nil
}

// TestKgoHelperPassesEnforcement: a franz-go producer using Partitioner
// (per record) or Place with the manual partitioner (per batch) writes to
// a topic enforcing its partitioner without a rejection, and puts each
// record where the partitioner says; kgo's own partitioner is refused.
func TestKgoHelperPassesEnforcement(t *testing.T) {
	n := startNode(t, "", nil)
	n.createTopic(t, "enf", 5, map[string]string{"weir.partitioner": "first-byte", "weir.partitioner.enforce": "true"})
	ctx := testCtx(t)
	var recs []*kgo.Record
	for i := range 50 {
		recs = append(recs, &kgo.Record{Topic: "enf", Key: fmt.Appendf(nil, "%c-key-%d", 'a'+i%26, i), Value: []byte("via Partitioner")})
	}
	cl := n.client(t, kgo.RecordPartitioner(Partitioner(firstByte{})))
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("Partitioner: %v", err)
	}
	var placed []*kgo.Record
	for i := range 50 {
		placed = append(placed, &kgo.Record{Topic: "enf", Key: fmt.Appendf(nil, "%c-placed-%d", 'a'+i%26, i), Value: []byte("via Place")})
	}
	if err := Place(ctx, firstByte{}, 5, placed); err != nil {
		t.Fatal(err)
	}
	manual := n.client(t, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err := manual.ProduceSync(ctx, placed...).FirstErr(); err != nil {
		t.Fatalf("Place: %v", err)
	}
	for _, r := range n.consume(t, "enf", 100) {
		if want := int32(r.Key[0]) % 5; r.Partition != want {
			t.Errorf("key %q on partition %d, want %d", r.Key, r.Partition, want)
		}
	}

	// franz-go's default (murmur2) disagrees with first-byte somewhere.
	var wrong *kgo.Record
	for i := 0; wrong == nil; i++ {
		k := fmt.Appendf(nil, "k%d", i)
		if partitioners.Murmur2Partition(k, 5) != int32(k[0])%5 {
			wrong = &kgo.Record{Topic: "enf", Key: k}
		}
	}
	if err := n.client(t, kgo.RecordRetries(1)).ProduceSync(ctx, wrong).FirstErr(); !errors.Is(err, kerr.InvalidRecord) {
		t.Fatalf("kgo's default partitioner on an enforcing topic: %v, want INVALID_RECORD", err)
	}

	if err := Place(ctx, firstByte{}, 5, []*kgo.Record{{Topic: "a"}, {Topic: "b"}}); err == nil || !strings.Contains(err.Error(), `topics "a" and "b"`) {
		t.Errorf("Place across topics: %v", err)
	}
}

// TestDescribeTopic: partitions and weir.partitioner (the default when
// unset); an unknown topic without auto-creation is ErrUnknownTopic.
func TestDescribeTopic(t *testing.T) {
	n := startNode(t, "[broker]\n\"auto.create.topics.enable\" = false\n", nil)
	n.createTopic(t, "six", 6, nil)
	n.createTopic(t, "named", 2, map[string]string{"weir.partitioner": "uniform-sticky"})
	cl := n.client(t)
	ctx := testCtx(t)
	info, err := DescribeTopic(ctx, cl, "six", false)
	if err != nil || info.Partitions != 6 || info.Partitioner != DefaultPartitioner {
		t.Errorf("six: %+v %v", info, err)
	}
	if info, err = DescribeTopic(ctx, cl, "named", true); err != nil || info.Partitions != 2 || info.Partitioner != "uniform-sticky" {
		t.Errorf("named: %+v %v", info, err)
	}
	if _, err := DescribeTopic(ctx, cl, "nope", true); !errors.Is(err, ErrUnknownTopic) || !strings.Contains(err.Error(), "auto-creation is off") {
		t.Errorf("nope: %v", err)
	}
}

// TestDescribeTopicCreates: with auto-creation on, asking creates the
// topic with the broker's defaults, including its weir.partitioner.
func TestDescribeTopicCreates(t *testing.T) {
	n := startNode(t, "[broker]\n\"num.partitions\" = 3\n[topic_defaults]\n\"weir.partitioner\" = \"first-byte\"\n", nil)
	info, err := DescribeTopic(testCtx(t), n.client(t), "fresh", true)
	if err != nil || info.Partitions != 3 || info.Partitioner != "first-byte" {
		t.Fatalf("fresh: %+v %v", info, err)
	}
}

// TestProduceAPI: Produce answers in record order, and places keyless
// records with the partitioner too (roundrobin spreads them).
func TestProduceAPI(t *testing.T) {
	n := startNode(t, "", nil)
	n.createTopic(t, "rr", 3, map[string]string{"weir.partitioner": "roundrobin"})
	recs := make([]Record, 6)
	for i := range recs {
		recs[i] = Record{Value: fmt.Appendf(nil, "v%d", i), Partition: -1, Timestamp: time.UnixMilli(int64(i + 1))}
	}
	info, res, err := n.prod.Produce(testCtx(t), "rr", recs)
	if err != nil {
		t.Fatal(err)
	}
	var parts []int32
	for _, r := range res {
		if r.Err != nil {
			t.Fatal(r.Err)
		}
		parts = append(parts, r.Partition)
	}
	if info.Partitioner != "roundrobin" {
		t.Errorf("partitioner %q", info.Partitioner)
	}
	slices.Sort(parts)
	if fmt.Sprint(parts) != "[0 0 1 1 2 2]" {
		t.Errorf("roundrobin spread six records as %v", parts)
	}
}

package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirmq/weir/examples/internal/weirtest"
	"github.com/weirmq/weir/producer"
)

// The weir binary and the example's module, built once in TestMain.
var weirBin, ttlWASM string

func TestMain(m *testing.M) {
	weirtest.Main(m, "ttl", func(dir, weir string) error {
		weirBin, ttlWASM = weir, filepath.Join(dir, "ttl.wasm")
		return weirtest.BuildWASM(weir, ".", ttlWASM)
	})
}

// The README's configuration, with the cleaner looking for work every
// 100 ms rather than every 15 s.
const ttlConfig = `
[broker]
"log.cleaner.backoff.ms" = 100

[[plugins]]
name = "ttl"
kind = "compaction_filter"
wasm = %q
`

// TestTTLFilterThroughWeir follows the README: test the module on sample
// records, run Weir with it on a compacted topic, write records with past,
// future, missing and malformed deadlines, and wait for the log cleaner
// to drop exactly the expired ones (and the older value of a key updated
// since, as compaction always does).
func TestTTLFilterThroughWeir(t *testing.T) {
	dir := t.TempDir()
	cache := filepath.Join(dir, "data", "plugin-cache")
	recs := filepath.Join(dir, "records.json")
	os.WriteFile(recs, []byte(`[
		{"offset": 0, "key": "a", "value": "old", "headers": {"ttl": "1000"}},
		{"offset": 1, "key": "b", "value": "new", "headers": {"ttl": "3000"}},
		{"offset": 2, "key": "c", "value": "no ttl"}]`), 0o644)
	out := (&weirtest.Node{Weir: weirBin}).MustRun(t, "", "plugin", "test", "--wasm", ttlWASM, "--cache-dir", cache,
		"--input", recs, "--now", "2000")
	for _, want := range []string{`0       "a"  drop`, `1       "b"  keep`, `2       "c"  keep`} {
		if !strings.Contains(out, want) {
			t.Errorf("weir plugin test: no %q in\n%s", want, out)
		}
	}

	node := weirtest.StartIn(t, weirBin, dir, fmt.Sprintf(ttlConfig, ttlWASM))
	node.MustRun(t, "", "topic", "create", "sessions", "--partitions", "1",
		"--config", "cleanup.policy=compact", "--config", "weir.compaction.filter=ttl",
		"--config", "segment.bytes=4096", "--config", "min.cleanable.dirty.ratio=0.01")

	now := time.Now().UnixMilli()
	past, future := fmt.Sprint(now-3_600_000), fmt.Sprint(now+3_600_000)
	var records []map[string]any
	add := func(key, value string, ttl string) {
		r := map[string]any{"key": key, "value": value}
		if ttl != "" {
			r["headers"] = map[string]string{"ttl": ttl}
		}
		records = append(records, r)
	}
	for i := range 5 {
		add(fmt.Sprintf("expired-%d", i), "gone soon", past)
		add(fmt.Sprintf("fresh-%d", i), "still valid", future)
		add(fmt.Sprintf("forever-%d", i), "no deadline", "")
	}
	add("malformed", "kept: its deadline is not a number", "tomorrow")
	add("updated", "first value, replaced below", future)
	add("updated", "second value", future)
	offsetOf := map[string]int64{}
	post := func(records []map[string]any) int64 {
		body, _ := json.Marshal(map[string]any{"records": records})
		resp, err := http.Post("http://"+node.HTTP+"/v1/topics/sessions/records", "application/json", strings.NewReader(string(body)))
		if err != nil {
			t.Fatal(err)
		}
		var pr producer.ProduceResponse
		json.NewDecoder(resp.Body).Decode(&pr)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || len(pr.Records) != len(records) {
			t.Fatalf("producing: %d %+v", resp.StatusCode, pr)
		}
		for i, r := range records {
			offsetOf[r["key"].(string)] = pr.Records[i].Offset // the later value of "updated"
		}
		return pr.Records[len(pr.Records)-1].Offset
	}
	post(records)
	// Further batches fill more segments (segment.bytes is 4 KiB): the
	// cleaner never touches the active (last) segment.
	var lastOffset int64
	for b := range 6 {
		records = nil
		for i := range 10 { // a batch must fit in a segment
			noise := make([]byte, 150)
			rand.Read(noise) // incompressible: batches are compressed
			add(fmt.Sprintf("filler-%d-%d", b, i), base64.StdEncoding.EncodeToString(noise), "")
		}
		lastOffset = post(records)
	}

	var got map[string]int64
	for deadline := time.Now().Add(60 * time.Second); ; {
		got = readAll(t, node, "sessions", lastOffset)
		if _, still := got["expired-0"]; !still {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("expired records still there after 60s; cleaner status: %s\nnode log:\n%s", cleanerStatus(node), node.Log())
		}
		time.Sleep(200 * time.Millisecond)
	}
	for i := range 5 {
		if _, ok := got[fmt.Sprintf("expired-%d", i)]; ok {
			t.Errorf("expired-%d survived cleaning", i)
		}
		for _, k := range []string{fmt.Sprintf("fresh-%d", i), fmt.Sprintf("forever-%d", i)} {
			if off, ok := got[k]; !ok || off != offsetOf[k] {
				t.Errorf("%s: at offset %d (present %v), want it kept at %d", k, off, ok, offsetOf[k])
			}
		}
	}
	if off, ok := got["malformed"]; !ok || off != offsetOf["malformed"] {
		t.Errorf("the record with a malformed deadline was not kept at its offset")
	}
	if off := got["updated"]; off != offsetOf["updated"] {
		t.Errorf("updated: offset %d, want the later value's %d", off, offsetOf["updated"])
	}
	if !strings.Contains(node.Log(), `is not milliseconds since the epoch; kept`) {
		t.Errorf("the filter did not log the malformed deadline:\n%s", node.Log())
	}
	if st := cleanerStatus(node); !strings.Contains(st, `"topic":"sessions"`) || strings.Contains(st, `"last_cleaned_ms":0`) {
		t.Errorf("cleaner status: %s", st)
	}
}

// cleanerStatus is the node's GET /v1/topics/sessions/cleaner answer (what
// `weir topic describe` shows).
func cleanerStatus(node *weirtest.Node) string {
	resp, err := http.Get("http://" + node.HTTP + "/v1/topics/sessions/cleaner")
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// readAll reads topic-0 from its start up to lastOffset and returns each
// key's offset (the last one seen for a key). Compaction leaves gaps in
// the offsets; the last record is in the active segment, which is never
// cleaned, so it is always there to end the read.
func readAll(t *testing.T, node *weirtest.Node, topic string, lastOffset int64) map[string]int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(node.Kafka), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	out := map[string]int64{}
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("reading %s: keys so far %v", topic, slices.Sorted(maps.Keys(out)))
		}
		for _, r := range fs.Records() {
			out[string(r.Key)] = r.Offset
			if r.Offset >= lastOffset {
				return out
			}
		}
	}
}

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirmq/weir/examples/internal/weirtest"
	"github.com/weirmq/weir/partitioners"
	"github.com/weirmq/weir/producer"
)

// The weir binary and the example's module, built once in TestMain.
var weirBin, tenantWASM string

func TestMain(m *testing.M) {
	weirtest.Main(m, "partitioner", func(dir, weir string) error {
		weirBin, tenantWASM = weir, filepath.Join(dir, "tenant.wasm")
		return weirtest.BuildWASM(weir, ".", tenantWASM)
	})
}

// The README's configuration.
const tenantConfig = `
[broker]
"auto.create.topics.enable" = false

[[plugins]]
name = "tenant"
kind = "partitioner"
wasm = %q

[plugins.config]
separator = "/"

[plugins.config.tenants]
acme   = 0
globex = 1
`

// want is where the README says a key goes on a 4-partition topic:
// configured tenants to their partition, other tenants by murmur2 of the
// tenant, keys without a tenant by murmur2 of the key.
func want(key string) int32 {
	tenant, _, found := strings.Cut(key, "/")
	switch {
	case !found:
		return partitioners.Murmur2Partition([]byte(key), 4)
	case tenant == "acme":
		return 0
	case tenant == "globex":
		return 1
	}
	return partitioners.Murmur2Partition([]byte(tenant), 4)
}

// TestTenantPartitionerThroughWeir follows the README: test the module,
// start Weir with it, create a topic that uses and enforces it, and
// produce through the HTTP endpoint, `weir produce` and a franz-go client
// with the Go helper — every record lands on its tenant's partition —
// while a plain franz-go client's misplaced record is refused.
func TestTenantPartitionerThroughWeir(t *testing.T) {
	dir := t.TempDir()
	cache := filepath.Join(dir, "data", "plugin-cache") // the node's, filled by the first compile

	// weir plugin test, before any broker.
	node := &weirtest.Node{Weir: weirBin}
	out := node.MustRun(t, "", "plugin", "test", "--wasm", tenantWASM, "--cache-dir", cache,
		"--config", `{"tenants": {"acme": 0, "globex": 1}}`, "--partitions", "4",
		"--key", "acme/1", "--key", "globex/2", "--key", "initech/3", "--key", "no-tenant")
	placed := map[string]string{}
	for line := range strings.Lines(out) {
		if f := strings.Fields(line); len(f) == 2 {
			placed[f[0]] = f[1]
		}
	}
	for _, k := range []string{"acme/1", "globex/2", "initech/3", "no-tenant"} {
		if got := placed[fmt.Sprintf("%q", k)]; got != fmt.Sprint(want(k)) {
			t.Errorf("weir plugin test put %s on %q, want %d:\n%s", k, got, want(k), out)
		}
	}

	node = weirtest.StartIn(t, weirBin, dir, fmt.Sprintf(tenantConfig, tenantWASM))
	node.MustRun(t, "", "topic", "create", "orders", "--partitions", "4",
		"--config", "weir.partitioner=tenant", "--config", "weir.partitioner.enforce=true")
	var keys []string

	// The HTTP produce endpoint.
	body := `{"records": [{"key": "acme/order-1", "value": "a"}, {"key": "globex/order-2", "value": "b"},
		{"key": "initech/order-3", "value": "c"}, {"key": "acme/order-4", "value": {"json": true}}, {"value": "no key"}]}`
	resp, err := http.Post("http://"+node.HTTP+"/v1/topics/orders/records", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var pr producer.ProduceResponse
	err = json.NewDecoder(resp.Body).Decode(&pr)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || pr.Partitioner != "tenant" {
		t.Fatalf("HTTP produce: %d %+v %v", resp.StatusCode, pr, err)
	}
	for i, k := range []string{"acme/order-1", "globex/order-2", "initech/order-3", "acme/order-4"} {
		if pr.Records[i].Partition != want(k) {
			t.Errorf("HTTP: %s answered partition %d, want %d", k, pr.Records[i].Partition, want(k))
		}
		keys = append(keys, k)
	}

	// weir produce.
	_, errOut, err := node.Run("acme/cli-1,one\nglobex/cli-2,two\numbrella/cli-3,three\n",
		"produce", "orders", "--key-separator", ",", "--cache-dir", cache)
	if err != nil || !strings.Contains(errOut, "placing records with partitioner tenant (wasm") || !strings.Contains(errOut, "produced 3 records") {
		t.Fatalf("weir produce: %v\n%s", err, errOut)
	}
	keys = append(keys, "acme/cli-1", "globex/cli-2", "umbrella/cli-3")

	// franz-go with the Go helper.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	f, err := producer.FetchPartitioner(ctx, node.HTTP, "orders", producer.FetchOptions{CacheDir: cache})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close(ctx)
	cl := node.Client(t, kgo.RecordPartitioner(producer.Partitioner(f.Partitioner)))
	var recs []*kgo.Record
	for i := range 20 {
		k := fmt.Sprintf("%s/go-%d", []string{"acme", "globex", "hooli", "initech"}[i%4], i)
		recs = append(recs, &kgo.Record{Topic: "orders", Key: []byte(k), Value: []byte("from franz-go")})
		keys = append(keys, k)
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("franz-go with the helper: %v", err)
	}

	// Read everything back: each keyed record on its tenant's partition.
	seen := map[string]int32{}
	for _, r := range node.ConsumeAll(t, "orders", len(keys)+1) {
		if r.Key != nil {
			seen[string(r.Key)] = r.Partition
		}
	}
	for _, k := range keys {
		if p, ok := seen[k]; !ok || p != want(k) {
			t.Errorf("%s read back from partition %d (found %v), want %d", k, p, ok, want(k))
		}
	}

	// A plain franz-go client hashes the whole key: refused where that is
	// not the tenant's partition.
	var misplaced string
	for i := 0; misplaced == ""; i++ {
		if k := fmt.Sprintf("acme/plain-%d", i); partitioners.Murmur2Partition([]byte(k), 4) != want(k) {
			misplaced = k
		}
	}
	plain := node.Client(t, kgo.RecordRetries(1))
	err = plain.ProduceSync(ctx, &kgo.Record{Topic: "orders", Key: []byte(misplaced), Value: []byte("x")}).FirstErr()
	if !errors.Is(err, kerr.InvalidRecord) {
		t.Fatalf("plain franz-go with %s: %v, want INVALID_RECORD", misplaced, err)
	}

	// weir plugin list and reload.
	out = node.MustRun(t, "", "plugin", "list")
	if !strings.Contains(out, "tenant  partitioner  wasm    closed") {
		t.Errorf("weir plugin list:\n%s", out)
	}
	if out = node.MustRun(t, "", "plugin", "reload", "tenant"); !strings.Contains(out, "reloaded tenant") {
		t.Errorf("weir plugin reload: %s", out)
	}
}

// Command wasm-partitioner is a Weir partitioner plugin, built as a WASM
// module: it routes records by the tenant prefix of their key, so that
// every record of a tenant lands on the tenant's partition.
//
// A key "acme/order-17" belongs to tenant "acme" (the part before the
// first separator, "/" by default). A tenant listed in the plugin's
// configuration goes to its partition (modulo the partition count); any
// other tenant goes where murmur2 puts the tenant name, so its records
// still stay together. A key without the separator is placed by murmur2 of
// the whole key, as Kafka would; records without a key are spread round
// robin.
//
// Build it with `weir plugin build . -o tenant.wasm`; see README.md.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/weirmq/weir/partitioners"
	"github.com/weirmq/weir/sdk/wasm"
	"github.com/weirmq/weir/sdk/wasm/partitioner"
)

// config is the plugin's [plugins.config] table.
type config struct {
	Separator string           `json:"separator"`
	Tenants   map[string]int32 `json:"tenants"`
}

var (
	cfg  = config{Separator: "/"}
	next uint32 // round robin for keyless records
)

func init() {
	wasm.Configure(configure)
	partitioner.Register(place)
}

// configure reads [plugins.config]; an error stops the plugin from
// loading, with this message.
func configure(raw []byte) error {
	c := config{Separator: "/"}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return fmt.Errorf("tenant partitioner config: %v (want separator = \"/\" and a [plugins.config.tenants] table of tenant = partition)", err)
	}
	if c.Separator == "" {
		return fmt.Errorf("tenant partitioner config: separator must not be empty")
	}
	for t, p := range c.Tenants {
		if p < 0 {
			return fmt.Errorf("tenant partitioner config: tenant %q has partition %d; partitions start at 0", t, p)
		}
	}
	cfg = c
	wasm.Logf(wasm.LevelInfo, "tenant partitioner configured: %d tenants, separator %q", len(c.Tenants), c.Separator)
	return nil
}

// place is the partitioner: one call per batch of keys.
func place(_ string, n int32, keys [][]byte, out []int32) error {
	for i, key := range keys {
		out[i] = partitionFor(key, n)
	}
	return nil
}

// partitionFor places one key on a topic of n partitions.
func partitionFor(key []byte, n int32) int32 {
	if key == nil {
		next++
		return int32(next % uint32(n))
	}
	tenant, _, found := bytes.Cut(key, []byte(cfg.Separator))
	if !found {
		return partitioners.Murmur2Partition(key, n)
	}
	if p, ok := cfg.Tenants[string(tenant)]; ok {
		return p % n
	}
	return partitioners.Murmur2Partition(tenant, n)
}

func main() {}

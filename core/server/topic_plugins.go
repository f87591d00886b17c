package server

import (
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/weirmq/weir/core/config"
	"github.com/weirmq/weir/sdk"
)

// compactionFilterRegistry is what the broker needs of the sdk.Registry to
// check a topic's weir.compaction.filter.
type compactionFilterRegistry interface {
	CompactionFilter(name string) (sdk.CompactionFilter, bool)
}

// checkTopicPlugins refuses topic config overrides that name a partitioner
// or compaction filter this node does not have (INVALID_CONFIG, naming
// the config and what may be named instead), so that a typo is caught
// when the topic is created or altered rather than when records flow.
// With no registry for an extension point (in-process tests), its names
// are not checked.
func (b *Broker) checkTopicPlugins(what string, configs map[string]string) error {
	if name := configs[config.ConfigWeirPartitioner]; name != "" && b.opts.Partitioners != nil {
		if _, ok := b.opts.Partitioners.Partitioner(name); !ok {
			return refuse(kerr.InvalidConfig, "%s: invalid config %q = %q: no partitioner of that name is registered; name a built-in (murmur2, roundrobin, uniform-sticky) or a [[plugins]] entry of kind partitioner",
				what, config.ConfigWeirPartitioner, name)
		}
	}
	if name := configs[config.ConfigWeirCompactionFilter]; name != "" && b.opts.CompactionFilters != nil {
		if _, ok := b.opts.CompactionFilters.CompactionFilter(name); !ok {
			return refuse(kerr.InvalidConfig, "%s: invalid config %q = %q: no compaction filter of that name is registered; name a [[plugins]] entry of kind compaction_filter, or \"\" for Kafka's keep-latest rule",
				what, config.ConfigWeirCompactionFilter, name)
		}
	}
	return nil
}

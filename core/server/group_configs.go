package server

import (
	"fmt"
	"maps"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirmq/weir/core/config"
	"github.com/weirmq/weir/core/controller"
)

// Group configs: Kafka's GROUP config resource (KIP-848), which Weir uses
// for its own weir.assignor — the assignor the coordinator runs for a
// classic consumer group (core/group's server-side assignment). Overrides
// live in the metadata image (controller.AlterGroupConfigs); a group that
// sets none takes the broker's weir.group.assignor (dynamic broker config,
// else weir.toml's [broker], else ""). DescribeConfigs, AlterConfigs and
// IncrementalAlterConfigs serve the resource; a group need not exist to
// have configs, and a change applies from the group's next rebalance.

// classicAssignor is the assignor the coordinator runs for a classic
// group: its weir.assignor override, else the broker's default; "" leaves
// assignment to the group's leader. It reads the image and the resolved
// broker configuration only, so the coordinator may call it under its
// locks.
func (b *Broker) classicAssignor(group string) string {
	if v, ok := b.opts.Metadata.Image().GroupConfig(group, config.ConfigWeirAssignor); ok {
		return v
	}
	return b.brokerConfig().WeirGroupAssignor
}

// checkAssignorName returns nil when name is "" or a registered assignor,
// else an error naming it, fit for a client.
func (b *Broker) checkAssignorName(name string) error {
	if name == "" {
		return nil
	}
	if b.opts.Assignors != nil {
		if _, ok := b.opts.Assignors.Assignor(name); ok {
			return nil
		}
	}
	return fmt.Errorf("no assignor %q is registered: name a built-in (range, roundrobin, sticky, cooperative-sticky, uniform) or a [[plugins]] entry of kind assignor, or \"\" to leave assignment to the group's leader", name)
}

// groupResource checks a GROUP resource's name: any group id but "".
func groupResource(name string) error {
	if name == "" {
		return refuse(kerr.InvalidRequest, "group config resource: the group name is empty")
	}
	return nil
}

// describeGroupConfigs lists every group config of the group, each from
// the most specific level that sets it: the group's override
// (GROUP_CONFIG), the broker synonym's dynamic value
// (DYNAMIC_DEFAULT_BROKER_CONFIG) or weir.toml's (STATIC_BROKER_CONFIG),
// or the default (DEFAULT_CONFIG).
func (b *Broker) describeGroupConfigs(img *controller.Image, group string) ([]describedConfig, error) {
	if err := groupResource(group); err != nil {
		return nil, err
	}
	overrides, dynamic := img.GroupConfigs(group), img.BrokerConfigs()
	var out []describedConfig
	for _, d := range config.GroupTable().Defs() {
		dc := describedConfig{def: d}
		level := func(name, value string, source kmsg.ConfigSource) {
			if dc.synonyms == nil {
				dc.value, dc.source = value, source
			}
			dc.addSynonym(name, value, source)
		}
		if v, ok := overrides[d.Name]; ok {
			level(d.Name, v, kmsg.ConfigSourceGroupConfig)
		}
		name := d.Name
		if d.BrokerSynonym != "" {
			name = d.BrokerSynonym
			if v, ok := dynamic[name]; ok {
				level(name, v, kmsg.ConfigSourceDynamicDefaultBrokerConfig)
			}
			if v, ok := b.opts.Config.Broker[name]; ok {
				level(name, v.String(), kmsg.ConfigSourceStaticBrokerConfig)
			}
		}
		level(name, d.Default.String(), kmsg.ConfigSourceDefaultConfig)
		out = append(out, dc)
	}
	return out, nil
}

// checkGroupConfigs checks a group's new override set: known names, valid
// values, and an assignor name that is registered (only for a value being
// set: an override already there stays deletable if its plugin is gone).
func (b *Broker) checkGroupConfigs(tg configTarget, next map[string]string) error {
	for _, name := range slices.Sorted(maps.Keys(next)) {
		v, err := config.ParseGroupValue(name, next[name])
		if err != nil {
			return refuse(kerr.InvalidConfig, "%s: invalid config %v", tg.what, err)
		}
		if old, ok := tg.current[name]; ok && old == next[name] {
			continue
		}
		if name == config.ConfigWeirAssignor {
			if err := b.checkAssignorName(v.String()); err != nil {
				return refuse(kerr.InvalidConfig, "%s: invalid config %q = %q: %v", tg.what, name, next[name], err)
			}
		}
	}
	return nil
}

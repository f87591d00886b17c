package server

import (
	"context"
	"slices"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirmq/weir/core/config"
	"github.com/weirmq/weir/core/controller"
)

// handleDescribeConfigs lists the configs of topics, of this broker and of
// groups.
//
// A topic config's value comes from the topic's override
// (DYNAMIC_TOPIC_CONFIG), weir.toml (STATIC_BROKER_CONFIG: [topic_defaults]
// or the [broker] synonym) or the table's default (DEFAULT_CONFIG). A
// broker config's from the cluster-wide dynamic overrides in the metadata
// image (DYNAMIC_DEFAULT_BROKER_CONFIG: Weir keeps no per-broker dynamic
// configs yet), weir.toml, or the default. The broker resource is named by
// this node's ID, or "" for the cluster-wide dynamic defaults (only the
// overrides are listed then, as Kafka); another name is INVALID_REQUEST. A
// GROUP resource (KIP-848) lists the group configs (weir.assignor) of any
// group id, existing or not: the group's override (GROUP_CONFIG), else its
// broker synonym's value (weir.group.assignor: dynamic, weir.toml) or the
// default (group_configs.go). Synonyms, when asked for, list every level that sets the config, most
// specific first; nothing is read-only or sensitive.
func (b *Broker) handleDescribeConfigs(_ context.Context, _ *requestContext, kreq kmsg.Request) (any, error) {
	req := kreq.(*kmsg.DescribeConfigsRequest)
	resp := respond[*kmsg.DescribeConfigsResponse](req)
	img := b.opts.Metadata.Image()
	for _, rr := range req.Resources {
		sr := kmsg.NewDescribeConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		configs, err := b.describeResource(img, rr.ResourceType, rr.ResourceName)
		if err != nil {
			sr.ErrorCode, sr.ErrorMessage = errorCode(err), errorMessage(err)
			resp.Resources = append(resp.Resources, sr)
			continue
		}
		for _, dc := range configs {
			// A null list asks for every config, an empty one for none.
			if rr.ConfigNames != nil && !slices.Contains(rr.ConfigNames, dc.def.Name) {
				continue
			}
			sr.Configs = append(sr.Configs, dc.response(req))
		}
		resp.Resources = append(resp.Resources, sr)
	}
	return resp, nil
}

// describedConfig is one config of a resource as DescribeConfigs lists it.
type describedConfig struct {
	def    config.Def
	value  string
	source kmsg.ConfigSource
	// synonyms are the levels that set the config, most specific first,
	// the one in effect included.
	synonyms []kmsg.DescribeConfigsResponseResourceConfigConfigSynonym
}

func (dc *describedConfig) addSynonym(name, value string, source kmsg.ConfigSource) {
	s := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
	s.Name, s.Value, s.Source = name, &value, source
	dc.synonyms = append(dc.synonyms, s)
}

func (dc describedConfig) response(req *kmsg.DescribeConfigsRequest) kmsg.DescribeConfigsResponseResourceConfig {
	c := kmsg.NewDescribeConfigsResponseResourceConfig()
	c.Name = dc.def.Name
	v := dc.value
	c.Value = &v
	c.Source = dc.source
	c.IsDefault = dc.source == kmsg.ConfigSourceDefaultConfig
	c.ConfigType = kmsg.ConfigType(dc.def.Type)
	if req.IncludeSynonyms {
		c.ConfigSynonyms = dc.synonyms
	}
	if req.IncludeDocumentation {
		doc := dc.def.Doc
		c.Documentation = &doc
	}
	return c
}

// describeResource returns the configs of a TOPIC, BROKER or GROUP
// resource.
func (b *Broker) describeResource(img *controller.Image, typ kmsg.ConfigResourceType, name string) ([]describedConfig, error) {
	switch typ {
	case kmsg.ConfigResourceTypeTopic:
		t, ok := img.TopicByName(name)
		if !ok {
			return nil, refuse(kerr.UnknownTopicOrPartition, "topic %q does not exist", name)
		}
		return b.describeTopicConfigs(t)
	case kmsg.ConfigResourceTypeBroker:
		clusterDefault, err := b.brokerResource(name)
		if err != nil {
			return nil, err
		}
		return b.describeBrokerConfigs(img, !clusterDefault)
	case kmsg.ConfigResourceTypeGroupConfig:
		return b.describeGroupConfigs(img, name)
	}
	return nil, refuse(kerr.InvalidRequest, "config resource type %v is not supported; Weir has TOPIC, BROKER and GROUP configs", typ)
}

// brokerResource checks a BROKER resource name: "" is the cluster-wide
// default (true), this node's ID is this broker (false).
func (b *Broker) brokerResource(name string) (clusterDefault bool, err error) {
	if name == "" {
		return true, nil
	}
	if id, err := strconv.ParseInt(name, 10, 32); err == nil && int32(id) == b.nodeID {
		return false, nil
	}
	return false, refuse(kerr.InvalidRequest, "broker resource %q is neither this broker (%d) nor \"\" for the cluster-wide default", name, b.nodeID)
}

// describeTopicConfigs lists every config of t.
func (b *Broker) describeTopicConfigs(t controller.Topic) ([]describedConfig, error) {
	cfg := b.opts.Config
	entries, err := cfg.DescribeTopic(t.Configs)
	if err != nil {
		return nil, err
	}
	static, err := cfg.DescribeTopic(nil)
	if err != nil {
		return nil, err
	}
	out := make([]describedConfig, len(entries))
	for i, e := range entries {
		dc := describedConfig{def: e.Def, value: e.Value.String(), source: kmsg.ConfigSource(e.Source)}
		if e.Source == config.SourceTopic {
			dc.addSynonym(e.Name, e.Value.String(), kmsg.ConfigSourceDynamicTopicConfig)
		}
		if s := static[i]; s.Source == config.SourceStatic {
			name := e.Def.BrokerSynonym
			if _, ok := cfg.TopicDefaults[e.Name]; ok || name == "" {
				name = e.Name
			}
			dc.addSynonym(name, s.Value.String(), kmsg.ConfigSourceStaticBrokerConfig)
		}
		name := e.Def.BrokerSynonym
		if name == "" {
			name = e.Name
		}
		dc.addSynonym(name, e.Def.Default.String(), kmsg.ConfigSourceDefaultConfig)
		out[i] = dc
	}
	return out, nil
}

// describeBrokerConfigs lists the broker configs: all of them, or only the
// dynamic overrides.
func (b *Broker) describeBrokerConfigs(img *controller.Image, all bool) ([]describedConfig, error) {
	entries, err := b.opts.Config.DescribeBroker()
	if err != nil {
		return nil, err
	}
	dynamic := img.BrokerConfigs()
	var out []describedConfig
	for _, e := range entries {
		dc := describedConfig{def: e.Def, value: e.Value.String(), source: kmsg.ConfigSource(e.Source)}
		v, isDynamic := dynamic[e.Name]
		switch {
		case isDynamic:
			dc.value, dc.source = v, kmsg.ConfigSourceDynamicDefaultBrokerConfig
			dc.addSynonym(e.Name, v, kmsg.ConfigSourceDynamicDefaultBrokerConfig)
		case !all:
			continue
		}
		if e.Source == config.SourceStatic {
			dc.addSynonym(e.Name, e.Value.String(), kmsg.ConfigSourceStaticBrokerConfig)
		}
		dc.addSynonym(e.Name, e.Def.Default.String(), kmsg.ConfigSourceDefaultConfig)
		out = append(out, dc)
	}
	return out, nil
}

package server

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirmq/weir/core/config"
	"github.com/weirmq/weir/core/controller"
)

// handleAlterConfigs replaces a resource's config overrides with the ones
// in the request (the legacy, non-incremental API): overrides it does not
// list are removed. A TOPIC resource changes the topic's overrides; a
// BROKER resource ("" or this node's ID) the cluster-wide dynamic broker
// configs, which are all Weir keeps; a GROUP resource the group's
// overrides (weir.assignor, which must name a registered assignor or be
// ""). Every value is checked against the
// config table (INVALID_CONFIG, naming the key); validate_only checks, the
// controller's rules included, and changes nothing.
func (b *Broker) handleAlterConfigs(ctx context.Context, _ *requestContext, kreq kmsg.Request) (any, error) {
	req := kreq.(*kmsg.AlterConfigsRequest)
	resp := respond[*kmsg.AlterConfigsResponse](req)
	keys := make([]string, len(req.Resources))
	for i, rr := range req.Resources {
		keys[i] = resourceKey(rr.ResourceType, rr.ResourceName)
	}
	dups := duplicates(keys)
	for i, rr := range req.Resources {
		sr := kmsg.NewAlterConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		var err error
		if dups[keys[i]] {
			err = refuse(kerr.InvalidRequest, "resource %v %q is listed more than once in the request", rr.ResourceType, rr.ResourceName)
		} else {
			err = b.alterResource(ctx, rr.ResourceType, rr.ResourceName, req.ValidateOnly, func(tg configTarget) (map[string]string, error) {
				return replacementConfigs(tg, rr.Configs)
			})
		}
		if err != nil {
			sr.ErrorCode, sr.ErrorMessage = errorCode(err), errorMessage(err)
			b.logger.Debug("alter configs refused", "resource", rr.ResourceName, "err", err)
		}
		resp.Resources = append(resp.Resources, sr)
	}
	return resp, nil
}

// replacementConfigs is the new override set of an AlterConfigs resource.
func replacementConfigs(tg configTarget, configs []kmsg.AlterConfigsRequestResourceConfig) (map[string]string, error) {
	next := make(map[string]string, len(configs))
	for _, c := range configs {
		if _, dup := next[c.Name]; dup {
			return nil, refuse(kerr.InvalidRequest, "%s: config %q is given more than once", tg.what, c.Name)
		}
		if c.Value == nil {
			return nil, refuse(kerr.InvalidRequest, "%s: config %q has a null value; leave it out to remove its override", tg.what, c.Name)
		}
		next[c.Name] = *c.Value
	}
	return next, nil
}

func resourceKey(typ kmsg.ConfigResourceType, name string) string {
	return fmt.Sprintf("%d/%s", typ, name)
}

// configTarget is a resource whose config overrides are being changed.
type configTarget struct {
	what    string // for messages: `topic "x"`, "broker configs" or `group "g"`
	table   *config.Table
	typ     kmsg.ConfigResourceType
	topic   controller.Topic  // the topic, for TOPIC resources
	group   string            // the group, for GROUP resources
	current map[string]string // the overrides now; read-only
}

// configTarget resolves an alterable resource in img.
func (b *Broker) configTarget(img *controller.Image, typ kmsg.ConfigResourceType, name string) (configTarget, error) {
	switch typ {
	case kmsg.ConfigResourceTypeTopic:
		t, ok := img.TopicByName(name)
		if !ok {
			return configTarget{}, refuse(kerr.UnknownTopicOrPartition, "topic %q does not exist", name)
		}
		return configTarget{what: fmt.Sprintf("topic %q", name), table: config.TopicTable(), typ: typ, topic: t, current: t.Configs}, nil
	case kmsg.ConfigResourceTypeBroker:
		if _, err := b.brokerResource(name); err != nil {
			return configTarget{}, err
		}
		return configTarget{what: "broker configs", table: config.BrokerTable(), typ: typ, current: img.BrokerConfigs()}, nil
	case kmsg.ConfigResourceTypeGroupConfig:
		if err := groupResource(name); err != nil {
			return configTarget{}, err
		}
		return configTarget{what: fmt.Sprintf("group %q", name), table: config.GroupTable(), typ: typ, group: name, current: img.GroupConfigs(name)}, nil
	}
	return configTarget{}, refuse(kerr.InvalidRequest, "config resource type %v is not supported; Weir has TOPIC, BROKER and GROUP configs", typ)
}

// alterResource replaces the overrides of a resource with what change
// returns for it, after checking them; with validateOnly it only checks.
func (b *Broker) alterResource(ctx context.Context, typ kmsg.ConfigResourceType, name string, validateOnly bool, change func(configTarget) (map[string]string, error)) error {
	img := b.opts.Metadata.Image()
	tg, err := b.configTarget(img, typ, name)
	if err != nil {
		return err
	}
	next, err := change(tg)
	if err != nil {
		return err
	}
	if err := b.checkConfigs(tg, next); err != nil {
		return err
	}
	set, del := diffConfigs(tg.current, next)
	if len(set) == 0 && len(del) == 0 {
		return nil
	}
	var cmd controller.Command = &controller.AlterBrokerConfigs{Set: set, Delete: del}
	switch tg.typ {
	case kmsg.ConfigResourceTypeTopic:
		cmd = &controller.AlterTopicConfigs{TopicID: tg.topic.ID, Set: set, Delete: del}
	case kmsg.ConfigResourceTypeGroupConfig:
		cmd = &controller.AlterGroupConfigs{Group: tg.group, Set: set, Delete: del}
	}
	if validateOnly {
		_, _, err := img.Apply(cmd)
		return err
	}
	if _, err := b.opts.Metadata.Submit(ctx, cmd); err != nil {
		return err
	}
	b.logger.Info("configs altered", "resource", tg.what, "set", slices.Sorted(maps.Keys(set)), "deleted", del)
	return nil
}

// checkConfigs checks a resource's new override set as a whole: known
// names, valid values, the rules between configs (a topic's
// min.compaction.lag.ms not above max.compaction.lag.ms, ...), and that
// an assignor being named (weir.assignor, weir.group.assignor) is
// registered.
func (b *Broker) checkConfigs(tg configTarget, next map[string]string) error {
	switch tg.typ {
	case kmsg.ConfigResourceTypeTopic:
		if _, err := b.opts.Config.DescribeTopic(next); err != nil {
			return refuse(kerr.InvalidConfig, "%s: invalid config %v", tg.what, err)
		}
		return b.checkTopicPlugins(tg.what, next)
	case kmsg.ConfigResourceTypeGroupConfig:
		return b.checkGroupConfigs(tg, next)
	}
	cfg, err := withDynamicBrokerConfigs(b.opts.Config, next)
	if err != nil {
		return refuse(kerr.InvalidConfig, "%s: invalid config %v", tg.what, err)
	}
	if _, err := cfg.DescribeBroker(); err != nil {
		return refuse(kerr.InvalidConfig, "%s: invalid config %v", tg.what, err)
	}
	if v, ok := next[config.ConfigWeirGroupAssignor]; ok && v != tg.current[config.ConfigWeirGroupAssignor] {
		name := cfg.Broker[config.ConfigWeirGroupAssignor].String()
		if err := b.checkAssignorName(name); err != nil {
			return refuse(kerr.InvalidConfig, "%s: invalid config %q = %q: %v", tg.what, config.ConfigWeirGroupAssignor, v, err)
		}
	}
	return nil
}

// diffConfigs returns what to set and what to delete to turn current into
// next.
func diffConfigs(current, next map[string]string) (set map[string]string, del []string) {
	for name, v := range next {
		if old, ok := current[name]; !ok || old != v {
			if set == nil {
				set = map[string]string{}
			}
			set[name] = v
		}
	}
	for _, name := range slices.Sorted(maps.Keys(current)) {
		if _, ok := next[name]; !ok {
			del = append(del, name)
		}
	}
	return set, del
}

package server

import (
	"context"
	"maps"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirmq/weir/core/config"
)

// handleIncrementalAlterConfigs changes single config overrides of topics,
// of the cluster-wide dynamic broker configs and of groups (resources as
// in AlterConfigs): SET one, DELETE one (back to weir.toml's value or the
// default), APPEND items to or SUBTRACT items from a list config such as
// cleanup.policy, starting from the value in effect. The resulting
// overrides are checked as a whole; a bad one is INVALID_CONFIG naming the
// key. validate_only checks and changes nothing.
func (b *Broker) handleIncrementalAlterConfigs(ctx context.Context, _ *requestContext, kreq kmsg.Request) (any, error) {
	req := kreq.(*kmsg.IncrementalAlterConfigsRequest)
	resp := respond[*kmsg.IncrementalAlterConfigsResponse](req)
	keys := make([]string, len(req.Resources))
	for i, rr := range req.Resources {
		keys[i] = resourceKey(rr.ResourceType, rr.ResourceName)
	}
	dups := duplicates(keys)
	for i, rr := range req.Resources {
		sr := kmsg.NewIncrementalAlterConfigsResponseResource()
		sr.ResourceType, sr.ResourceName = rr.ResourceType, rr.ResourceName
		var err error
		if dups[keys[i]] {
			err = refuse(kerr.InvalidRequest, "resource %v %q is listed more than once in the request", rr.ResourceType, rr.ResourceName)
		} else {
			err = b.alterResource(ctx, rr.ResourceType, rr.ResourceName, req.ValidateOnly, func(tg configTarget) (map[string]string, error) {
				return b.incrementalConfigs(tg, rr.Configs)
			})
		}
		if err != nil {
			sr.ErrorCode, sr.ErrorMessage = errorCode(err), errorMessage(err)
			b.logger.Debug("incremental alter configs refused", "resource", rr.ResourceName, "err", err)
		}
		resp.Resources = append(resp.Resources, sr)
	}
	return resp, nil
}

// incrementalConfigs applies the operations to the resource's overrides
// and returns the new set.
func (b *Broker) incrementalConfigs(tg configTarget, ops []kmsg.IncrementalAlterConfigsRequestResourceConfig) (map[string]string, error) {
	next := maps.Clone(tg.current)
	if next == nil {
		next = map[string]string{}
	}
	seen := make(map[string]bool, len(ops))
	for _, op := range ops {
		if seen[op.Name] {
			return nil, refuse(kerr.InvalidRequest, "%s: config %q is altered more than once in the request", tg.what, op.Name)
		}
		seen[op.Name] = true
		def, ok := tg.table.Lookup(op.Name)
		if !ok {
			_, err := tg.table.Parse(op.Name, "")
			return nil, refuse(kerr.InvalidConfig, "%s: invalid config %v", tg.what, err)
		}
		if op.Op != kmsg.IncrementalAlterConfigOpDelete && op.Value == nil {
			return nil, refuse(kerr.InvalidRequest, "%s: config %q: %v needs a value", tg.what, op.Name, op.Op)
		}
		switch op.Op {
		case kmsg.IncrementalAlterConfigOpSet:
			next[op.Name] = *op.Value
		case kmsg.IncrementalAlterConfigOpDelete:
			delete(next, op.Name)
		case kmsg.IncrementalAlterConfigOpAppend, kmsg.IncrementalAlterConfigOpSubtract:
			if def.Type != config.TypeList {
				return nil, refuse(kerr.InvalidConfig, "%s: cannot %v config %q: it is a %v, not a list", tg.what, op.Op, op.Name, def.Type)
			}
			items, err := b.listValue(tg, next, op.Name)
			if err != nil {
				return nil, err
			}
			given, err := def.Parse(*op.Value)
			if err != nil {
				return nil, refuse(kerr.InvalidConfig, "%s: invalid config %v", tg.what, err)
			}
			for _, it := range given.List() {
				has := slices.Contains(items, it)
				switch {
				case op.Op == kmsg.IncrementalAlterConfigOpAppend && !has:
					items = append(items, it)
				case op.Op == kmsg.IncrementalAlterConfigOpSubtract && has:
					items = slices.DeleteFunc(items, func(s string) bool { return s == it })
				}
			}
			next[op.Name] = strings.Join(items, ",")
		default:
			return nil, refuse(kerr.InvalidRequest, "%s: config %q: unknown operation %d", tg.what, op.Name, op.Op)
		}
	}
	return next, nil
}

// listValue returns the items of a list config as they stand: the
// override in next, or else the value the resource inherits.
func (b *Broker) listValue(tg configTarget, next map[string]string, name string) ([]string, error) {
	if s, ok := next[name]; ok {
		v, err := tg.table.Parse(name, s)
		if err != nil {
			return nil, refuse(kerr.InvalidConfig, "%s: invalid config %v", tg.what, err)
		}
		return v.List(), nil
	}
	var (
		entries []config.Entry
		err     error
	)
	switch tg.typ {
	case kmsg.ConfigResourceTypeTopic:
		entries, err = b.opts.Config.DescribeTopic(nil)
	case kmsg.ConfigResourceTypeGroupConfig:
		if d, ok := tg.table.Lookup(name); ok { // (no group config is a list yet)
			return d.Default.List(), nil
		}
		return nil, nil
	default:
		entries, err = b.opts.Config.DescribeBroker()
	}
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		if e.Name == name {
			return e.Value.List(), nil
		}
	}
	return nil, nil
}

package server

import (
	"context"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirmq/weir/assignors"
	"github.com/weirmq/weir/core/config"
	"github.com/weirmq/weir/sdk"
)

// Group configs (the GROUP config resource, KIP-848): weir.assignor
// through DescribeConfigs, IncrementalAlterConfigs and AlterConfigs.

// alterGroupConfigs sends one IncrementalAlterConfigs for a GROUP resource
// (kadm has no helper for the resource type) and returns its result.
func alterGroupConfigs(ctx context.Context, t *testing.T, cl *kgo.Client, group string, validateOnly bool, ops ...kmsg.IncrementalAlterConfigsRequestResourceConfig) kmsg.IncrementalAlterConfigsResponseResource {
	t.Helper()
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	req.ValidateOnly = validateOnly
	r := kmsg.NewIncrementalAlterConfigsRequestResource()
	r.ResourceType, r.ResourceName, r.Configs = kmsg.ConfigResourceTypeGroupConfig, group, ops
	req.Resources = append(req.Resources, r)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Resources) != 1 {
		t.Fatalf("%d resources in the answer", len(resp.Resources))
	}
	return resp.Resources[0]
}

// setOp and deleteOp are IncrementalAlterConfigs operations.
func setOp(name, value string) kmsg.IncrementalAlterConfigsRequestResourceConfig {
	c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
	c.Name, c.Op, c.Value = name, kmsg.IncrementalAlterConfigOpSet, &value
	return c
}

func deleteOp(name string) kmsg.IncrementalAlterConfigsRequestResourceConfig {
	c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
	c.Name, c.Op = name, kmsg.IncrementalAlterConfigOpDelete
	return c
}

// groupAssignorConfig describes a group's weir.assignor with synonyms.
func (tb *testBroker) groupAssignorConfig(t *testing.T, group string) kmsg.DescribeConfigsResponseResourceConfig {
	t.Helper()
	req := kmsg.NewPtrDescribeConfigsRequest()
	req.IncludeSynonyms, req.IncludeDocumentation = true, true
	r := kmsg.NewDescribeConfigsRequestResource()
	r.ResourceType, r.ResourceName = kmsg.ConfigResourceTypeGroupConfig, group
	req.Resources = append(req.Resources, r)
	res := tb.send(t, req, 4).(*kmsg.DescribeConfigsResponse).Resources[0]
	if res.ErrorCode != 0 || len(res.Configs) != 1 || res.Configs[0].Name != config.ConfigWeirAssignor {
		t.Fatalf("describing group %s: %+v", group, res)
	}
	return res.Configs[0]
}

// wantGroupAssignor checks a described weir.assignor: its value, source,
// and its synonyms' sources, most specific first.
func wantGroupAssignor(t *testing.T, what string, c kmsg.DescribeConfigsResponseResourceConfig, value string, source kmsg.ConfigSource, synonyms ...kmsg.ConfigSource) {
	t.Helper()
	var got []kmsg.ConfigSource
	for _, s := range c.ConfigSynonyms {
		got = append(got, s.Source)
	}
	if c.Value == nil || *c.Value != value || c.Source != source || c.IsDefault != (source == kmsg.ConfigSourceDefaultConfig) ||
		c.ConfigType != kmsg.ConfigTypeString || c.Documentation == nil || !strings.Contains(*c.Documentation, "assignor") {
		t.Errorf("%s: weir.assignor = %v from %v (default %v, type %v)", what, c.Value, c.Source, c.IsDefault, c.ConfigType)
	}
	if len(got) != len(synonyms) {
		t.Errorf("%s: synonyms from %v, want %v", what, got, synonyms)
		return
	}
	for i := range got {
		if got[i] != synonyms[i] {
			t.Errorf("%s: synonyms from %v, want %v", what, got, synonyms)
		}
	}
}

func TestGroupConfigs(t *testing.T) {
	tb := startBroker(t, "", "[broker]\n\"weir.group.assignor\" = \"range\"\n")
	ctx := adminCtx(t)
	cl := tb.client()
	const (
		group    = kmsg.ConfigSourceGroupConfig
		dynamic  = kmsg.ConfigSourceDynamicDefaultBrokerConfig
		static   = kmsg.ConfigSourceStaticBrokerConfig
		dflt     = kmsg.ConfigSourceDefaultConfig
		assignor = config.ConfigWeirAssignor
	)

	// A group that has never existed has the broker's default.
	wantGroupAssignor(t, "no override", tb.groupAssignorConfig(t, "g1"), "range", static, static, dflt)
	if got := tb.b.classicAssignor("g1"); got != "range" {
		t.Errorf("the coordinator is told %q for g1", got)
	}

	// validate_only checks and stores nothing.
	if r := alterGroupConfigs(ctx, t, cl, "g1", true, setOp(assignor, "uniform")); r.ErrorCode != 0 {
		t.Fatalf("validate only: %v %v", kerr.ErrorForCode(r.ErrorCode), r.ErrorMessage)
	}
	if got := tb.meta.Image().GroupConfigs("g1"); got != nil {
		t.Fatalf("validate_only stored %v", got)
	}
	r := alterGroupConfigs(ctx, t, cl, "g1", true, setOp(assignor, "nope"))
	checkCode(t, "validate only, unknown assignor", r.ErrorCode, r.ErrorMessage, kerr.InvalidConfig, `no assignor "nope" is registered`)

	// SET: the override, and the coordinator's answer.
	if r := alterGroupConfigs(ctx, t, cl, "g1", false, setOp(assignor, " uniform ")); r.ErrorCode != 0 {
		t.Fatalf("set: %v %v", kerr.ErrorForCode(r.ErrorCode), r.ErrorMessage)
	}
	if v, _ := tb.meta.Image().GroupConfig("g1", assignor); v != "uniform" {
		t.Fatalf("stored %q", v)
	}
	wantGroupAssignor(t, "override", tb.groupAssignorConfig(t, "g1"), "uniform", group, group, static, dflt)
	if got := tb.b.classicAssignor("g1"); got != "uniform" {
		t.Errorf("the coordinator is told %q for g1", got)
	}
	wantGroupAssignor(t, "another group", tb.groupAssignorConfig(t, "g2"), "range", static, static, dflt)

	// Refusals: an unknown assignor, an unknown config, a list operation
	// on a string, an empty group name. Nothing changes.
	r = alterGroupConfigs(ctx, t, cl, "g1", false, setOp(assignor, "nope"))
	checkCode(t, "unknown assignor", r.ErrorCode, r.ErrorMessage, kerr.InvalidConfig, `"nope"`)
	r = alterGroupConfigs(ctx, t, cl, "g1", false, setOp("weir.asignor", "range"))
	checkCode(t, "unknown config", r.ErrorCode, r.ErrorMessage, kerr.InvalidConfig, `did you mean "weir.assignor"`)
	r = alterGroupConfigs(ctx, t, cl, "g1", false, setOp("session.timeout.ms", "1000"))
	checkCode(t, "topic config", r.ErrorCode, r.ErrorMessage, kerr.InvalidConfig, "unknown group config")
	appendOp := setOp(assignor, "range")
	appendOp.Op = kmsg.IncrementalAlterConfigOpAppend
	r = alterGroupConfigs(ctx, t, cl, "g1", false, appendOp)
	checkCode(t, "append to a string", r.ErrorCode, r.ErrorMessage, kerr.InvalidConfig, "not a list")
	r = alterGroupConfigs(ctx, t, cl, "", false, setOp(assignor, "range"))
	checkCode(t, "no group name", r.ErrorCode, r.ErrorMessage, kerr.InvalidRequest, "group name is empty")
	if v, _ := tb.meta.Image().GroupConfig("g1", assignor); v != "uniform" {
		t.Fatalf("a refused request changed the override to %q", v)
	}

	// An empty override: the group's leader assigns, whatever the broker
	// default.
	if r := alterGroupConfigs(ctx, t, cl, "g1", false, setOp(assignor, "")); r.ErrorCode != 0 {
		t.Fatalf("set empty: %v %v", kerr.ErrorForCode(r.ErrorCode), r.ErrorMessage)
	}
	wantGroupAssignor(t, "empty override", tb.groupAssignorConfig(t, "g1"), "", group, group, static, dflt)
	if got := tb.b.classicAssignor("g1"); got != "" {
		t.Errorf("the coordinator is told %q for g1", got)
	}

	// DELETE: back to the broker's default; a dynamic default wins over
	// weir.toml's and is checked against the registry too.
	if r := alterGroupConfigs(ctx, t, cl, "g1", false, deleteOp(assignor)); r.ErrorCode != 0 {
		t.Fatalf("delete: %v %v", kerr.ErrorForCode(r.ErrorCode), r.ErrorMessage)
	}
	if got := tb.meta.Image().GroupConfigs("g1"); got != nil {
		t.Fatalf("after the delete: %v", got)
	}
	adm := tb.admin()
	if rs, err := adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Name: config.ConfigWeirGroupAssignor, Value: kadm.StringPtr("sticky")}}); err != nil || rs[0].Err != nil {
		t.Fatalf("dynamic default: %v %+v", err, rs)
	}
	wantGroupAssignor(t, "dynamic default", tb.groupAssignorConfig(t, "g1"), "sticky", dynamic, dynamic, static, dflt)
	if got := tb.b.classicAssignor("g1"); got != "sticky" {
		t.Errorf("the coordinator is told %q for g1", got)
	}
	rs, err := adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Name: config.ConfigWeirGroupAssignor, Value: kadm.StringPtr("nope")}})
	if err != nil || len(rs) != 1 || !strings.Contains(rs[0].ErrMessage, `no assignor "nope"`) {
		t.Errorf("an unknown assignor as the dynamic default: %v %+v", err, rs)
	}

	// AlterConfigs replaces the group's overrides.
	alter := func(configs ...kmsg.AlterConfigsRequestResourceConfig) kmsg.AlterConfigsResponseResource {
		req := kmsg.NewPtrAlterConfigsRequest()
		r := kmsg.NewAlterConfigsRequestResource()
		r.ResourceType, r.ResourceName, r.Configs = kmsg.ConfigResourceTypeGroupConfig, "g3", configs
		req.Resources = append(req.Resources, r)
		return tb.send(t, req, 2).(*kmsg.AlterConfigsResponse).Resources[0]
	}
	roundrobin := kmsg.NewAlterConfigsRequestResourceConfig()
	roundrobin.Name, roundrobin.Value = assignor, kadm.StringPtr("roundrobin")
	if r := alter(roundrobin); r.ErrorCode != 0 {
		t.Fatalf("alter configs: %v %v", kerr.ErrorForCode(r.ErrorCode), r.ErrorMessage)
	}
	if v, _ := tb.meta.Image().GroupConfig("g3", assignor); v != "roundrobin" {
		t.Fatalf("g3 stored %q", v)
	}
	bad := roundrobin
	bad.Value = kadm.StringPtr("nope")
	r2 := alter(bad)
	checkCode(t, "alter configs, unknown assignor", r2.ErrorCode, r2.ErrorMessage, kerr.InvalidConfig, `"nope"`)
	if r := alter(); r.ErrorCode != 0 || tb.meta.Image().GroupConfigs("g3") != nil {
		t.Fatalf("alter configs without configs: %v, left %v", kerr.ErrorForCode(r.ErrorCode), tb.meta.Image().GroupConfigs("g3"))
	}

	// Describing an empty group name is refused.
	req := kmsg.NewPtrDescribeConfigsRequest()
	dr := kmsg.NewDescribeConfigsRequestResource()
	dr.ResourceType = kmsg.ConfigResourceTypeGroupConfig
	req.Resources = append(req.Resources, dr)
	res := tb.send(t, req, 4).(*kmsg.DescribeConfigsResponse).Resources[0]
	checkCode(t, "describe without a group name", res.ErrorCode, res.ErrorMessage, kerr.InvalidRequest, "group name is empty")
}

// TestGroupAssignorDefaultChecked: a broker does not start with a
// weir.group.assignor that names no registered assignor.
func TestGroupAssignorDefaultChecked(t *testing.T) {
	cfg, err := config.Parse([]byte("[broker]\n\"weir.group.assignor\" = \"nope\"\n"), "test.toml")
	if err != nil {
		t.Fatal(err)
	}
	reg := sdk.NewRegistry()
	if err := assignors.Register(reg); err != nil {
		t.Fatal(err)
	}
	b, err := Start(context.Background(), Options{Config: cfg, Assignors: reg})
	if err == nil {
		b.Close()
		t.Fatal("the broker started")
	}
	if !strings.Contains(err.Error(), `"weir.group.assignor" = "nope"`) || !strings.Contains(err.Error(), `no assignor "nope" is registered`) {
		t.Fatalf("error %q does not name the setting", err)
	}
}

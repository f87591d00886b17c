package server

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// topicConfigEntry returns one config of a topic, described through kadm.
func (tb *testBroker) topicConfigEntry(t *testing.T, topic, name string) kadm.Config {
	t.Helper()
	rcs, err := tb.admin().DescribeTopicConfigs(adminCtx(t), topic)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := rcs.On(topic, nil)
	if err != nil || rc.Err != nil {
		t.Fatalf("describing %s: %v, %v", topic, err, rc.Err)
	}
	for _, c := range rc.Configs {
		if c.Key == name {
			return c
		}
	}
	t.Fatalf("%s has no config %s", topic, name)
	return kadm.Config{}
}

func TestDescribeTopicConfigsSources(t *testing.T) {
	tb := startBroker(t, "", "[topic_defaults]\n\"segment.bytes\" = 1048576\n[broker]\n\"min.insync.replicas\" = 1\n")
	tb.createTopic(t, "described", 1, map[string]*string{"retention.ms": kadm.StringPtr("1000")})
	cases := []struct {
		name, value string
		source      kmsg.ConfigSource
		synonyms    []string // names of the synonyms, most specific first
	}{
		{"retention.ms", "1000", kmsg.ConfigSourceDynamicTopicConfig, []string{"retention.ms", "log.retention.ms"}},
		{"segment.bytes", "1048576", kmsg.ConfigSourceStaticBrokerConfig, []string{"segment.bytes", "log.segment.bytes"}},
		{"min.insync.replicas", "1", kmsg.ConfigSourceStaticBrokerConfig, []string{"min.insync.replicas", "min.insync.replicas"}},
		{"cleanup.policy", "delete", kmsg.ConfigSourceDefaultConfig, []string{"log.cleanup.policy"}},
	}
	for _, c := range cases {
		got := tb.topicConfigEntry(t, "described", c.name)
		if got.MaybeValue() != c.value || got.Source != c.source {
			t.Errorf("%s = %q from %v, want %q from %v", c.name, got.MaybeValue(), got.Source, c.value, c.source)
		}
		var names []string
		for _, s := range got.Synonyms {
			names = append(names, s.Key)
		}
		if strings.Join(names, " ") != strings.Join(c.synonyms, " ") {
			t.Errorf("%s synonyms %v, want %v", c.name, names, c.synonyms)
		}
	}

	// Version 4 with a name filter, documentation and types; version 1;
	// an unknown topic and an unsupported resource type.
	for _, v := range []int16{1, 4} {
		req := kmsg.NewPtrDescribeConfigsRequest()
		req.IncludeDocumentation = true
		r := kmsg.NewDescribeConfigsRequestResource()
		r.ResourceType, r.ResourceName, r.ConfigNames = kmsg.ConfigResourceTypeTopic, "described", []string{"retention.ms", "no.such.config"}
		req.Resources = append(req.Resources, r)
		r.ResourceName, r.ConfigNames = "missing", nil
		req.Resources = append(req.Resources, r)
		r.ResourceType, r.ResourceName = kmsg.ConfigResourceTypeBrokerLogger, "1"
		req.Resources = append(req.Resources, r)
		resp := tb.send(t, req, v).(*kmsg.DescribeConfigsResponse)
		res := resp.Resources
		if res[0].ErrorCode != 0 || len(res[0].Configs) != 1 || res[0].Configs[0].Name != "retention.ms" {
			t.Fatalf("v%d filtered: %+v", v, res[0])
		}
		c := res[0].Configs[0]
		if v >= 3 && (c.ConfigType != kmsg.ConfigTypeLong || c.Documentation == nil || *c.Documentation == "") {
			t.Errorf("v%d: type %v, documentation %v", v, c.ConfigType, c.Documentation)
		}
		checkCode(t, "unknown topic", res[1].ErrorCode, res[1].ErrorMessage, kerr.UnknownTopicOrPartition, "missing")
		checkCode(t, "broker logger", res[2].ErrorCode, res[2].ErrorMessage, kerr.InvalidRequest, "")
	}
}

func TestDescribeBrokerConfigs(t *testing.T) {
	tb := startBroker(t, "", "[broker]\n\"num.partitions\" = 3\n")
	ctx := adminCtx(t)
	adm := tb.admin()
	rcs, err := adm.DescribeBrokerConfigs(ctx, tb.cfg.NodeID)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := rcs.On(strconv.Itoa(int(tb.cfg.NodeID)), nil)
	if err != nil || rc.Err != nil {
		t.Fatalf("%v, %v", err, rc.Err)
	}
	found := map[string]kadm.Config{}
	for _, c := range rc.Configs {
		found[c.Key] = c
	}
	if c := found["num.partitions"]; c.MaybeValue() != "3" || c.Source != kmsg.ConfigSourceStaticBrokerConfig {
		t.Errorf("num.partitions = %q from %v", c.MaybeValue(), c.Source)
	}
	if c := found["auto.create.topics.enable"]; c.MaybeValue() != "true" || c.Source != kmsg.ConfigSourceDefaultConfig {
		t.Errorf("auto.create.topics.enable = %q from %v", c.MaybeValue(), c.Source)
	}

	// The cluster-wide resource lists only dynamic overrides: none yet.
	rcs, err = adm.DescribeBrokerConfigs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rc, _ := rcs.On("", nil); rc.Err != nil || len(rc.Configs) != 0 {
		t.Errorf("cluster default: %v, %d configs", rc.Err, len(rc.Configs))
	}

	req := kmsg.NewPtrDescribeConfigsRequest()
	r := kmsg.NewDescribeConfigsRequestResource()
	r.ResourceType, r.ResourceName = kmsg.ConfigResourceTypeBroker, "42"
	req.Resources = append(req.Resources, r)
	resp := tb.send(t, req, 4).(*kmsg.DescribeConfigsResponse)
	checkCode(t, "another broker", resp.Resources[0].ErrorCode, resp.Resources[0].ErrorMessage, kerr.InvalidRequest, "42")
}

func TestIncrementalAlterTopicConfigs(t *testing.T) {
	tb := startBroker(t, "", "")
	ctx := adminCtx(t)
	adm := tb.admin()
	tb.createTopic(t, "inc", 1, nil)
	alter := func(validate bool, ops ...kadm.AlterConfig) error {
		t.Helper()
		f := adm.AlterTopicConfigs
		if validate {
			f = adm.ValidateAlterTopicConfigs
		}
		resps, err := f(ctx, ops, "inc")
		if err != nil {
			t.Fatal(err)
		}
		if r := resps[0]; r.Err != nil {
			return &requestError{code: r.Err.(*kerr.Error), msg: r.ErrMessage}
		}
		return nil
	}
	set := kadm.AlterConfig{Op: kadm.SetConfig, Name: "retention.ms", Value: kadm.StringPtr("5000")}
	appendCompact := kadm.AlterConfig{Op: kadm.AppendConfig, Name: "cleanup.policy", Value: kadm.StringPtr("compact")}
	if err := alter(true, set, appendCompact); err != nil {
		t.Fatal(err)
	}
	if c := tb.topicConfigEntry(t, "inc", "retention.ms"); c.Source != kmsg.ConfigSourceDefaultConfig {
		t.Fatalf("validate_only changed retention.ms: %q from %v", c.MaybeValue(), c.Source)
	}
	if err := alter(false, set, appendCompact); err != nil {
		t.Fatal(err)
	}
	if c := tb.topicConfigEntry(t, "inc", "retention.ms"); c.MaybeValue() != "5000" || c.Source != kmsg.ConfigSourceDynamicTopicConfig {
		t.Errorf("retention.ms = %q from %v", c.MaybeValue(), c.Source)
	}
	if c := tb.topicConfigEntry(t, "inc", "cleanup.policy"); c.MaybeValue() != "delete,compact" {
		t.Errorf("cleanup.policy after APPEND = %q", c.MaybeValue())
	}
	if tc, _ := tb.b.topicConfig("inc"); tc.RetentionMs != 5000 || !tc.CleanupPolicy.Compact {
		t.Errorf("the running topic has retention.ms %d, cleanup.policy %s", tc.RetentionMs, tc.CleanupPolicy)
	}
	if err := alter(false, kadm.AlterConfig{Op: kadm.SubtractConfig, Name: "cleanup.policy", Value: kadm.StringPtr("delete")}); err != nil {
		t.Fatal(err)
	}
	if c := tb.topicConfigEntry(t, "inc", "cleanup.policy"); c.MaybeValue() != "compact" {
		t.Errorf("cleanup.policy after SUBTRACT = %q", c.MaybeValue())
	}
	if err := alter(false, kadm.AlterConfig{Op: kadm.DeleteConfig, Name: "retention.ms"}); err != nil {
		t.Fatal(err)
	}
	if c := tb.topicConfigEntry(t, "inc", "retention.ms"); c.MaybeValue() != "604800000" || c.Source != kmsg.ConfigSourceDefaultConfig {
		t.Errorf("retention.ms after DELETE = %q from %v", c.MaybeValue(), c.Source)
	}

	refusals := []struct {
		name    string
		op      kadm.AlterConfig
		want    *kerr.Error
		msgPart string
	}{
		{"bad value", kadm.AlterConfig{Name: "segment.bytes", Value: kadm.StringPtr("1")}, kerr.InvalidConfig, "segment.bytes"},
		{"unknown name", kadm.AlterConfig{Name: "segment.byte", Value: kadm.StringPtr("1")}, kerr.InvalidConfig, "segment.byte"},
		{"append to a non-list", kadm.AlterConfig{Op: kadm.AppendConfig, Name: "retention.ms", Value: kadm.StringPtr("1")}, kerr.InvalidConfig, "retention.ms"},
		{"append a bad item", kadm.AlterConfig{Op: kadm.AppendConfig, Name: "cleanup.policy", Value: kadm.StringPtr("shred")}, kerr.InvalidConfig, "cleanup.policy"},
		{"subtract everything", kadm.AlterConfig{Op: kadm.SubtractConfig, Name: "cleanup.policy", Value: kadm.StringPtr("compact")}, kerr.InvalidConfig, "cleanup.policy"},
		{"delete an unknown name", kadm.AlterConfig{Op: kadm.DeleteConfig, Name: "nope.ms"}, kerr.InvalidConfig, "nope.ms"},
	}
	for _, r := range refusals {
		var re *requestError
		if err := alter(false, r.op); !errors.As(err, &re) || re.code != r.want || !strings.Contains(re.msg, r.msgPart) {
			t.Errorf("%s: %v, want %v naming %s", r.name, err, r.want, r.msgPart)
		}
	}

	// Unknown topics, duplicate names in one resource, version 0.
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	res := kmsg.NewIncrementalAlterConfigsRequestResource()
	res.ResourceType, res.ResourceName = kmsg.ConfigResourceTypeTopic, "missing"
	req.Resources = append(req.Resources, res)
	res.ResourceName = "inc"
	for range 2 {
		c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		c.Name, c.Value = "retention.ms", kmsg.StringPtr("1")
		res.Configs = append(res.Configs, c)
	}
	req.Resources = append(req.Resources, res)
	resp, err := req.RequestWith(ctx, tb.pinnedClient(44, 0))
	if err != nil {
		t.Fatal(err)
	}
	checkCode(t, "unknown topic", resp.Resources[0].ErrorCode, resp.Resources[0].ErrorMessage, kerr.UnknownTopicOrPartition, "missing")
	checkCode(t, "twice", resp.Resources[1].ErrorCode, resp.Resources[1].ErrorMessage, kerr.InvalidRequest, "retention.ms")
}

func TestAlterConfigsReplacesTheOverrides(t *testing.T) {
	tb := startBroker(t, "", "")
	ctx := adminCtx(t)
	adm := tb.admin()
	tb.createTopic(t, "full", 1, map[string]*string{"retention.ms": kadm.StringPtr("1000"), "segment.ms": kadm.StringPtr("2000")})
	resps, err := adm.AlterTopicConfigsState(ctx, []kadm.AlterConfig{{Name: "segment.ms", Value: kadm.StringPtr("3000")}}, "full")
	if err != nil || resps[0].Err != nil {
		t.Fatalf("%v, %+v", err, resps)
	}
	topic, _ := tb.meta.Image().TopicByName("full")
	if len(topic.Configs) != 1 || topic.Configs["segment.ms"] != "3000" {
		t.Fatalf("overrides after a full replacement: %v", topic.Configs)
	}
	resps, err = adm.ValidateAlterTopicConfigsState(ctx, nil, "full")
	if err != nil || resps[0].Err != nil {
		t.Fatalf("%v, %+v", err, resps)
	}
	if topic, _ := tb.meta.Image().TopicByName("full"); len(topic.Configs) != 1 {
		t.Fatalf("validate_only removed overrides: %v", topic.Configs)
	}
	resps, err = adm.AlterTopicConfigsState(ctx, []kadm.AlterConfig{{Name: "max.message.bytes", Value: kadm.StringPtr("-5")}}, "full")
	if err != nil || !errors.Is(resps[0].Err, kerr.InvalidConfig) || !strings.Contains(resps[0].ErrMessage, "max.message.bytes") {
		t.Errorf("bad value: %v, %+v", err, resps)
	}

	// A null value, and the same resource twice, at version 0.
	req := kmsg.NewPtrAlterConfigsRequest()
	res := kmsg.NewAlterConfigsRequestResource()
	res.ResourceType, res.ResourceName = kmsg.ConfigResourceTypeTopic, "full"
	c := kmsg.NewAlterConfigsRequestResourceConfig()
	c.Name = "retention.ms"
	res.Configs = append(res.Configs, c)
	req.Resources = append(req.Resources, res)
	resp, err := req.RequestWith(ctx, tb.pinnedClient(33, 0))
	if err != nil {
		t.Fatal(err)
	}
	checkCode(t, "null value", resp.Resources[0].ErrorCode, resp.Resources[0].ErrorMessage, kerr.InvalidRequest, "retention.ms")
	req.Resources = append(req.Resources, res)
	if resp, err = req.RequestWith(ctx, tb.client()); err != nil {
		t.Fatal(err)
	}
	for _, r := range resp.Resources {
		checkCode(t, "listed twice", r.ErrorCode, r.ErrorMessage, kerr.InvalidRequest, "full")
	}
}

func TestAlterBrokerConfigs(t *testing.T) {
	tb := startBroker(t, "", "")
	ctx := adminCtx(t)
	adm := tb.admin()
	threads := []kadm.AlterConfig{{Name: "log.cleaner.threads", Value: kadm.StringPtr("4")}}
	if resps, err := adm.ValidateAlterBrokerConfigs(ctx, threads); err != nil || resps[0].Err != nil {
		t.Fatalf("%v, %+v", err, resps)
	}
	if len(tb.meta.Image().BrokerConfigs()) != 0 {
		t.Fatal("validate_only stored a broker config")
	}
	if resps, err := adm.AlterBrokerConfigs(ctx, threads); err != nil || resps[0].Err != nil {
		t.Fatalf("%v, %+v", err, resps)
	}
	for _, name := range []string{"", strconv.Itoa(int(tb.cfg.NodeID))} {
		req := kmsg.NewPtrDescribeConfigsRequest()
		r := kmsg.NewDescribeConfigsRequestResource()
		r.ResourceType, r.ResourceName, r.ConfigNames = kmsg.ConfigResourceTypeBroker, name, []string{"log.cleaner.threads"}
		req.Resources = append(req.Resources, r)
		cs := tb.send(t, req, 4).(*kmsg.DescribeConfigsResponse).Resources[0].Configs
		if len(cs) != 1 || *cs[0].Value != "4" || cs[0].Source != kmsg.ConfigSourceDynamicDefaultBrokerConfig {
			t.Errorf("broker %q: %+v", name, cs)
		}
	}

	// Full replacement: the next AlterConfigs removes log.cleaner.threads.
	backoff := []kadm.AlterConfig{{Name: "log.cleaner.backoff.ms", Value: kadm.StringPtr("100")}}
	if resps, err := adm.AlterBrokerConfigsState(ctx, backoff, tb.cfg.NodeID); err != nil || resps[0].Err != nil {
		t.Fatalf("%v, %+v", err, resps)
	}
	if got := tb.meta.Image().BrokerConfigs(); len(got) != 1 || got["log.cleaner.backoff.ms"] != "100" {
		t.Errorf("dynamic broker configs after a replacement: %v", got)
	}

	bad := []kadm.AlterConfig{
		{Name: "group.min.session.timeout.ms", Value: kadm.StringPtr("60000")},
		{Name: "group.max.session.timeout.ms", Value: kadm.StringPtr("1000")},
	}
	resps, err := adm.AlterBrokerConfigs(ctx, bad)
	if err != nil || !errors.Is(resps[0].Err, kerr.InvalidConfig) || !strings.Contains(resps[0].ErrMessage, "session.timeout.ms") {
		t.Errorf("conflicting values: %v, %+v", err, resps)
	}
	resps, err = adm.AlterBrokerConfigs(ctx, []kadm.AlterConfig{{Name: "num.partitions", Value: kadm.StringPtr("zero")}})
	if err != nil || !errors.Is(resps[0].Err, kerr.InvalidConfig) || !strings.Contains(resps[0].ErrMessage, "num.partitions") {
		t.Errorf("bad value: %v, %+v", err, resps)
	}
	resps, err = adm.AlterBrokerConfigs(ctx, threads, 42)
	if err == nil && (len(resps) == 0 || !errors.Is(resps[0].Err, kerr.InvalidRequest)) {
		t.Errorf("another broker: %+v", resps)
	}
}

// cfgValue is a kadm config's value, "" for null.
func cfgValue(c kadm.Config) string { return c.MaybeValue() }

package server

import (
	"context"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/weirmq/weir/sdk"
)

type namedPartitioner string

func (n namedPartitioner) Name() string { return string(n) }
func (namedPartitioner) Partition(context.Context, sdk.PartitionInput, []int32) error {
	return sdk.ErrDecline
}

type namedFilter string

func (n namedFilter) Name() string                                                      { return string(n) }
func (namedFilter) Filter(context.Context, sdk.FilterInput, []sdk.FilterDecision) error { return nil }

func TestTopicConfigsMustNameRegisteredPlugins(t *testing.T) {
	reg := sdk.NewRegistry()
	if err := reg.RegisterPartitioner(namedPartitioner("tenant")); err != nil {
		t.Fatal(err)
	}
	if err := reg.RegisterCompactionFilter(namedFilter("ttl")); err != nil {
		t.Fatal(err)
	}
	tb := startBrokerWith(t, "", "", func(o *Options) { o.Partitioners, o.CompactionFilters = reg, reg })
	adm := tb.admin()
	defer adm.Close()
	ctx := context.Background()
	str := func(s string) *string { return &s }

	resps, err := adm.CreateTopics(ctx, 1, 1, map[string]*string{"weir.partitioner": str("tenat")}, "typo")
	if err != nil {
		t.Fatal(err)
	}
	res := resps["typo"]
	if res.Err != kerr.InvalidConfig || !strings.Contains(res.ErrMessage, `"weir.partitioner" = "tenat": no partitioner of that name`) {
		t.Fatalf("typo'd partitioner: %v %q", res.Err, res.ErrMessage)
	}
	res, err = adm.CreateTopic(ctx, 1, 1, map[string]*string{"weir.partitioner": str("tenant"), "weir.compaction.filter": str("ttl")}, "good")
	if err == nil {
		err = res.Err
	}
	if err != nil {
		t.Fatalf("registered plugins refused: %v", err)
	}
	alter, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.SetConfig, Name: "weir.compaction.filter", Value: str("tll")}}, "good")
	if err != nil {
		t.Fatal(err)
	}
	if len(alter) != 1 || alter[0].Err != kerr.InvalidConfig || !strings.Contains(alter[0].ErrMessage, "no compaction filter of that name") {
		t.Fatalf("typo'd filter: %+v", alter)
	}
}

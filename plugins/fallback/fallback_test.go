package fallback

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/weirmq/weir/assignors"
	"github.com/weirmq/weir/partitioners"
	"github.com/weirmq/weir/sdk"
)

// fakePartitioner is a plugin whose behaviour the test sets per call.
type fakePartitioner struct {
	err   error
	value int32
	calls int
}

func (f *fakePartitioner) Name() string { return "tenant" }
func (f *fakePartitioner) Partition(_ context.Context, in sdk.PartitionInput, out []int32) error {
	f.calls++
	for i := range out {
		out[i] = f.value
	}
	return f.err
}

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func newOpts(t *testing.T) (Options, *Metrics, *bytes.Buffer, *clock) {
	t.Helper()
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	c := &clock{t: time.Unix(1000, 0)}
	return Options{Logger: slog.New(slog.NewTextHandler(&logs, nil)), Metrics: m, FailureThreshold: 3, OpenFor: time.Minute, Now: c.now}, m, &logs, c
}

func TestPartitionerFallsBackAndBreakerOpens(t *testing.T) {
	opts, m, logs, clk := newOpts(t)
	plugin := &fakePartitioner{value: 1}
	p := Partitioner(plugin, partitioners.Murmur2(), opts)
	ctx := context.Background()
	key := []byte("k")
	in := sdk.PartitionInput{Topic: "t", NumPartitions: 4, Keys: [][]byte{key}}
	out := make([]int32, 1)
	want := partitioners.Murmur2Partition(key, 4)

	if err := p.Partition(ctx, in, out); err != nil || out[0] != 1 {
		t.Fatalf("healthy plugin: out %v err %v", out, err)
	}
	plugin.err = errors.New("wasm trap: unreachable")
	for i := 0; i < 3; i++ {
		if err := p.Partition(ctx, in, out); err != nil || out[0] != want {
			t.Fatalf("failing call %d: out %v err %v, want murmur2's %d", i, out, err, want)
		}
	}
	br, _ := BreakerOf(p)
	if !br.Open() {
		t.Fatal("breaker closed after 3 failures")
	}
	calls := plugin.calls
	if err := p.Partition(ctx, in, out); err != nil || out[0] != want || plugin.calls != calls {
		t.Fatalf("open breaker still called the plugin (calls %d→%d) or answered %v", calls, plugin.calls, out)
	}
	if got := value(t, m.open.WithLabelValues("tenant", "partitioner")); got != 1 {
		t.Fatalf("breaker gauge %v", got)
	}
	if !strings.Contains(logs.String(), "plugin=tenant") || !strings.Contains(logs.String(), "circuit breaker open") {
		t.Fatalf("log does not name the plugin and the breaker: %s", logs)
	}
	// Half-open: after OpenFor one trial call; success closes the breaker.
	clk.t = clk.t.Add(time.Minute)
	plugin.err = nil
	if err := p.Partition(ctx, in, out); err != nil || out[0] != 1 || br.Open() {
		t.Fatalf("trial call: out %v err %v open %v", out, err, br.Open())
	}
	for result, n := range map[string]float64{ResultOK: 2, ResultFailed: 3, ResultSkipped: 1} {
		if got := value(t, m.calls.WithLabelValues("tenant", "partitioner", result)); got != n {
			t.Errorf("calls{result=%s} = %v, want %v", result, got, n)
		}
	}
}

func TestPartitionerBadAnswerAndDecline(t *testing.T) {
	opts, m, _, _ := newOpts(t)
	plugin := &fakePartitioner{value: 99} // out of range
	p := Partitioner(plugin, partitioners.Murmur2(), opts)
	in := sdk.PartitionInput{Topic: "t", NumPartitions: 4, Keys: [][]byte{[]byte("x")}}
	out := make([]int32, 1)
	if err := p.Partition(context.Background(), in, out); err != nil || out[0] >= 4 {
		t.Fatalf("out-of-range answer passed through: %v %v", out, err)
	}
	plugin.value, plugin.err = 0, sdk.ErrDecline
	for i := 0; i < 10; i++ {
		_ = p.Partition(context.Background(), in, out)
	}
	if br, _ := BreakerOf(p); br.Open() {
		t.Fatal("declines opened the breaker")
	}
	if got := value(t, m.calls.WithLabelValues("tenant", "partitioner", ResultDeclined)); got != 10 {
		t.Fatalf("declined = %v", got)
	}
}

type fakeFilter struct{ err error }

func (fakeFilter) Name() string { return "ttl" }
func (f fakeFilter) Filter(_ context.Context, in sdk.FilterInput, out []sdk.FilterDecision) error {
	for i := range out {
		out[i].Action = sdk.Drop
	}
	return f.err
}

func TestFilterFailureKeepsEverything(t *testing.T) {
	opts, _, _, _ := newOpts(t)
	in := sdk.FilterInput{Topic: "t", Records: make([]sdk.Record, 3)}
	for _, plugErr := range []error{errors.New("boom"), sdk.ErrDecline} {
		f := CompactionFilter(fakeFilter{err: plugErr}, opts)
		out := make([]sdk.FilterDecision, 3)
		if err := f.Filter(context.Background(), in, out); err != nil {
			t.Fatal(err)
		}
		for i, d := range out {
			if d.Action != sdk.Keep {
				t.Fatalf("%v: record %d has action %d after a failed filter; want keep", plugErr, i, d.Action)
			}
		}
	}
	f := CompactionFilter(fakeFilter{}, opts)
	out := make([]sdk.FilterDecision, 3)
	if err := f.Filter(context.Background(), in, out); err != nil || out[0].Action != sdk.Drop {
		t.Fatalf("healthy filter overridden: %v %v", out, err)
	}
}

type badAssignor struct{}

func (badAssignor) Name() string { return "pin" }
func (badAssignor) Assign(context.Context, sdk.AssignInput) (sdk.Assignment, error) {
	return sdk.Assignment{"nobody": {"t": {0}}}, nil // fails Check
}

func TestAssignorFallsBackOnInvalidAssignment(t *testing.T) {
	opts, _, _, _ := newOpts(t)
	reg := sdk.NewRegistry()
	if err := assignors.Register(reg); err != nil {
		t.Fatal(err)
	}
	builtin, _ := reg.Assignor("range")
	a := Assignor(badAssignor{}, builtin, opts)
	in := sdk.AssignInput{
		Members: []sdk.GroupMember{{MemberID: "m1", Topics: []string{"t"}}, {MemberID: "m2", Topics: []string{"t"}}},
		Topics:  map[string]sdk.TopicMetadata{"t": {Partitions: 4}},
	}
	res, err := a.Assign(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	if err := res.Check(in); err != nil || len(res["m1"]["t"])+len(res["m2"]["t"]) != 4 {
		t.Fatalf("fallback assignment %v: %v", res, err)
	}
	if a.Name() != "pin" {
		t.Fatalf("wrapper renamed the plugin: %q", a.Name())
	}
}

// value reads a counter's or gauge's current value.
func value(t *testing.T, m prometheus.Metric) float64 {
	t.Helper()
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		t.Fatal(err)
	}
	if c := d.GetCounter(); c != nil {
		return c.GetValue()
	}
	return d.GetGauge().GetValue()
}

// A half-open trial that ends with the caller's context must not leave
// the breaker open for good, and neither must a trial nobody reports on.
func TestAbandonedTrialDoesNotKeepTheBreakerOpen(t *testing.T) {
	opts, _, _, clk := newOpts(t)
	opts.FailureThreshold = 1
	plugin := &fakePartitioner{value: 1, err: errors.New("boom")}
	p := Partitioner(plugin, partitioners.Murmur2(), opts)
	in := sdk.PartitionInput{Topic: "t", NumPartitions: 4, Keys: [][]byte{[]byte("k")}}
	out := make([]int32, 1)
	_ = p.Partition(context.Background(), in, out)
	br, _ := BreakerOf(p)
	if !br.Open() {
		t.Fatal("breaker closed after a failure at threshold 1")
	}

	clk.t = clk.t.Add(time.Minute)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	plugin.err = context.Canceled
	if err := p.Partition(ctx, in, out); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled trial: %v", err)
	}
	plugin.err = nil
	if err := p.Partition(context.Background(), in, out); err != nil || out[0] != 1 || br.Open() {
		t.Fatalf("after an abandoned trial the plugin was not tried again: out %v err %v open %v", out, err, br.Open())
	}

	// A trial let through but never reported expires after OpenFor.
	br2 := NewBreaker("x", "partitioner", opts)
	br2.Failure(errors.New("boom"))
	clk.t = clk.t.Add(time.Minute)
	if !br2.Allow() {
		t.Fatal("no trial after OpenFor")
	}
	if br2.Allow() {
		t.Fatal("a second trial while the first is in flight")
	}
	clk.t = clk.t.Add(time.Minute)
	if !br2.Allow() {
		t.Fatal("an unreported trial kept the breaker shut")
	}
}

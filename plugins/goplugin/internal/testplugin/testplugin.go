// Package testplugin holds the extension-point implementations the test
// plugin binaries (plugins/goplugin/testdata) serve, so that the tests can
// run the same code in-process and compare answers.
package testplugin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/weirmq/weir/assignors"
	"github.com/weirmq/weir/partitioners"
	"github.com/weirmq/weir/sdk"
)

// Keys and values that make the test implementations misbehave, when the
// binary enables it.
var (
	KeyDecline = []byte("decline") // Partition returns sdk.ErrDecline
	KeyFail    = []byte("fail")    // Partition returns an error
	KeyCrash   = []byte("crash")   // Partition exits the process (Hostile only)
	KeyHang    = []byte("hang")    // Partition never returns (Hostile only)
	KeyPanic   = []byte("panic")   // Partition panics
)

// A member with the ID "crash" makes Assign exit the process (Hostile
// only).

// Config is the [plugins.config] the test binaries accept.
type Config struct {
	Shift    int32  `json:"shift"`    // added to murmur2's partition
	Assignor string `json:"assignor"` // the built-in to delegate to; "" for uniform
	Reject   bool   `json:"reject"`   // fail Configure
}

// Plugin is everything a test binary serves, configured by Configure.
type Plugin struct {
	// Hostile enables KeyCrash and KeyHang.
	Hostile bool

	mu       sync.RWMutex
	shift    int32
	assignor sdk.Assignor
}

// New returns a Plugin delegating to the uniform assignor, shift 0.
func New(hostile bool) *Plugin {
	return &Plugin{Hostile: hostile, assignor: assignors.NewUniform()}
}

// Configure applies a JSON Config.
func (p *Plugin) Configure(_ context.Context, raw json.RawMessage) error {
	var cfg Config
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		return fmt.Errorf("bad config: %w", err)
	}
	if cfg.Reject {
		return errors.New("config says reject")
	}
	a := sdk.Assignor(assignors.NewUniform())
	if cfg.Assignor != "" {
		a = nil
		for _, b := range assignors.All() {
			if b.Name() == cfg.Assignor {
				a = b
			}
		}
		if a == nil {
			return fmt.Errorf("no built-in assignor %q", cfg.Assignor)
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.shift, p.assignor = cfg.Shift, a
	return nil
}

// Partitioner is the plugin's partitioner.
func (p *Plugin) Partitioner() sdk.Partitioner { return partitioner{p} }

// Assignor is the plugin's assignor.
func (p *Plugin) Assignor() sdk.Assignor { return assignor{p} }

// Filter is the plugin's compaction filter.
func (p *Plugin) Filter() sdk.CompactionFilter { return filter{} }

type partitioner struct{ p *Plugin }

func (partitioner) Name() string { return "shifted-murmur2" }

func (pt partitioner) Partition(ctx context.Context, in sdk.PartitionInput, out []int32) error {
	pt.p.mu.RLock()
	shift := pt.p.shift
	pt.p.mu.RUnlock()
	for i, k := range in.Keys {
		switch {
		case bytes.Equal(k, KeyDecline):
			return sdk.ErrDecline
		case bytes.Equal(k, KeyFail):
			return fmt.Errorf("refusing key %d", i)
		case bytes.Equal(k, KeyPanic):
			panic("asked to panic")
		case pt.p.Hostile && bytes.Equal(k, KeyCrash):
			os.Exit(3)
		case pt.p.Hostile && bytes.Equal(k, KeyHang):
			select {} // ignores ctx on purpose
		}
		if k == nil {
			out[i] = int32(len(in.Keys)) % in.NumPartitions
			continue
		}
		part := partitioners.Murmur2Partition(k, in.NumPartitions)
		out[i] = int32((int64(part) + int64(shift)) % int64(in.NumPartitions))
	}
	return ctx.Err()
}

type assignor struct{ p *Plugin }

func (assignor) Name() string { return "delegating" }

func (a assignor) Assign(ctx context.Context, in sdk.AssignInput) (sdk.Assignment, error) {
	a.p.mu.RLock()
	b := a.p.assignor
	a.p.mu.RUnlock()
	for _, m := range in.Members {
		if a.p.Hostile && m.MemberID == string(KeyCrash) {
			os.Exit(3)
		}
	}
	return b.Assign(ctx, in)
}

type filter struct{}

func (filter) Name() string { return "ttl-and-upper" }

// Filter drops records whose value is "drop", drops records whose "ttl"
// header (milliseconds) has passed at in.NowMs, rewrites values starting
// with "upper:" to upper case with a "rewritten" header, and keeps the rest.
func (filter) Filter(_ context.Context, in sdk.FilterInput, out []sdk.FilterDecision) error {
	for i, r := range in.Records {
		switch {
		case bytes.Equal(r.Value, []byte("drop")):
			out[i] = sdk.FilterDecision{Action: sdk.Drop}
		case expired(r, in.NowMs):
			out[i] = sdk.FilterDecision{Action: sdk.Drop}
		case bytes.HasPrefix(r.Value, []byte("upper:")):
			hs := append([]sdk.Header{{Key: "rewritten", Value: []byte("yes")}}, r.Headers...)
			out[i] = sdk.FilterDecision{Action: sdk.Rewrite, Value: bytes.ToUpper(r.Value), Headers: hs}
		case r.Value == nil:
			out[i] = sdk.FilterDecision{Action: sdk.Rewrite, Value: nil, Headers: nil}
		}
	}
	return nil
}

func expired(r sdk.Record, now int64) bool {
	for _, h := range r.Headers {
		if h.Key == "ttl" {
			var ttl int64
			if _, err := fmt.Sscan(string(h.Value), &ttl); err == nil && r.TimestampMs+ttl < now {
				return true
			}
		}
	}
	return false
}

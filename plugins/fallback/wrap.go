package fallback

import (
	"context"
	"fmt"

	"github.com/weirmq/weir/sdk"
)

// Partitioner wraps plugin so that a failed call (an error other than
// sdk.ErrDecline, or an answer failing sdk.CheckPartitions) is answered by
// builtin, under a Breaker. The result has plugin's Name. Its Partition
// returns an error only when builtin fails, or the caller's ctx ends.
func Partitioner(plugin, builtin sdk.Partitioner, opts Options) sdk.Partitioner {
	return &partitioner{plugin: plugin, builtin: builtin, br: NewBreaker(plugin.Name(), "partitioner", opts)}
}

type partitioner struct {
	plugin, builtin sdk.Partitioner
	br              *Breaker
}

func (p *partitioner) Name() string { return p.plugin.Name() }

// Breaker returns the wrapper's breaker (for status pages and tests).
func (p *partitioner) Breaker() *Breaker { return p.br }

func (p *partitioner) Partition(ctx context.Context, in sdk.PartitionInput, out []int32) error {
	if p.br.Allow() {
		err := p.plugin.Partition(ctx, in, out)
		if err == nil {
			err = sdk.CheckPartitions(in, out)
		}
		switch {
		case err == nil:
			p.br.Success(ResultOK)
			return nil
		case declined(err):
			p.br.Success(ResultDeclined)
		case ctxErr(ctx, err):
			p.br.Abandon()
			return err
		default:
			p.br.Failure(err)
		}
	}
	return p.builtin.Partition(ctx, in, out)
}

// CompactionFilter wraps plugin so that a failed call (an error other than
// sdk.ErrDecline, or a decision with an unknown action) keeps every record
// of the chunk, under a Breaker; while the breaker is open every chunk is
// kept whole. The result has plugin's Name, and its Filter returns an
// error only when the caller's ctx ends (out is then all Keep).
func CompactionFilter(plugin sdk.CompactionFilter, opts Options) sdk.CompactionFilter {
	return &filter{plugin: plugin, br: NewBreaker(plugin.Name(), "compaction_filter", opts)}
}

type filter struct {
	plugin sdk.CompactionFilter
	br     *Breaker
}

func (f *filter) Name() string { return f.plugin.Name() }

// Breaker returns the wrapper's breaker (for status pages and tests).
func (f *filter) Breaker() *Breaker { return f.br }

func (f *filter) Filter(ctx context.Context, in sdk.FilterInput, out []sdk.FilterDecision) error {
	keepAll := func() {
		for i := range out {
			out[i] = sdk.FilterDecision{}
		}
	}
	if !f.br.Allow() {
		keepAll()
		return nil
	}
	err := f.plugin.Filter(ctx, in, out)
	if err == nil {
		err = checkDecisions(in, out)
	}
	switch {
	case err == nil:
		f.br.Success(ResultOK)
		return nil
	case declined(err):
		f.br.Success(ResultDeclined)
	case ctxErr(ctx, err):
		f.br.Abandon()
		keepAll()
		return err
	default:
		f.br.Failure(err)
	}
	keepAll()
	return nil
}

func checkDecisions(in sdk.FilterInput, out []sdk.FilterDecision) error {
	if len(out) != len(in.Records) {
		return fmt.Errorf("filter answered %d decisions for %d records", len(out), len(in.Records))
	}
	for i, d := range out {
		if d.Action < sdk.Keep || d.Action > sdk.Rewrite {
			return fmt.Errorf("filter gave record %d (offset %d) the unknown action %d", i, in.Records[i].Offset, d.Action)
		}
	}
	return nil
}

// Assignor wraps plugin so that a failed call (an error, or an assignment
// failing Assignment.Check) is answered by builtin, under a Breaker. Input
// that fails AssignInput.Validate is the caller's bug and returns the
// error without calling either. The result has plugin's Name.
func Assignor(plugin, builtin sdk.Assignor, opts Options) sdk.Assignor {
	return &assignor{plugin: plugin, builtin: builtin, br: NewBreaker(plugin.Name(), "assignor", opts)}
}

type assignor struct {
	plugin, builtin sdk.Assignor
	br              *Breaker
}

func (a *assignor) Name() string { return a.plugin.Name() }

// Breaker returns the wrapper's breaker (for status pages and tests).
func (a *assignor) Breaker() *Breaker { return a.br }

func (a *assignor) Assign(ctx context.Context, in sdk.AssignInput) (sdk.Assignment, error) {
	if err := in.Validate(); err != nil {
		return nil, err
	}
	if a.br.Allow() {
		res, err := a.plugin.Assign(ctx, in)
		if err == nil {
			err = res.Check(in)
		}
		switch {
		case err == nil:
			a.br.Success(ResultOK)
			return res, nil
		case declined(err):
			a.br.Success(ResultDeclined)
		case ctxErr(ctx, err):
			a.br.Abandon()
			return nil, err
		default:
			a.br.Failure(err)
		}
	}
	return a.builtin.Assign(ctx, in)
}

// BreakerOf returns the breaker of a value returned by Partitioner,
// CompactionFilter or Assignor, and whether v is one.
func BreakerOf(v any) (*Breaker, bool) {
	b, ok := v.(interface{ Breaker() *Breaker })
	if !ok {
		return nil, false
	}
	return b.Breaker(), true
}

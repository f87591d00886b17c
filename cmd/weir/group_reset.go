package main

// `weir group reset-offsets`: plan new committed offsets for a group's
// partitions of one topic (planReset, a pure function), print the plan, and
// commit it only with --execute and only while the group is inactive.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// resetKind says how reset-offsets picks each partition's new offset.
type resetKind int

const (
	resetToEarliest  resetKind = iota // the log start offset
	resetToLatest                     // the log end offset
	resetToOffset                     // a given offset
	resetToTimestamp                  // the first record at or after a time
	resetShiftBy                      // the committed offset moved by N
)

// resetTarget is the one --to-* or --shift-by flag given.
type resetTarget struct {
	kind  resetKind
	value int64 // the offset, the time in ms, or the shift
}

type resetFlags struct {
	topic       string
	partition   int32
	toEarliest  bool
	toLatest    bool
	toOffset    int64
	toTimestamp int64
	shiftBy     int64
	execute     bool
}

func newGroupResetOffsetsCommand(cf *clientFlags) *cobra.Command {
	var f resetFlags
	cmd := &cobra.Command{
		Use:   "reset-offsets GROUP --topic TOPIC (--to-earliest | --to-latest | --to-offset N | --to-timestamp MS | --shift-by N)",
		Short: "Move a group's committed offsets for a topic (a dry run unless --execute)",
		Long: `Move the committed offsets of GROUP for the partitions of --topic (or only
--partition). Exactly one of these says where:
  --to-earliest      the log start offset
  --to-latest        the log end offset: the group skips what is there now
  --to-offset N      offset N, clamped to the log
  --to-timestamp MS  the first record with a timestamp at or after MS (ms since
                     the Unix epoch), or the log end offset if there is none
  --shift-by N       the committed offset plus N (N may be negative), clamped
                     to the log; every partition must have a committed offset

Without --execute this is a dry run: it prints the plan (each partition's
current committed offset and its new one) and changes nothing. With
--execute it commits the new offsets (OffsetCommit). Like Kafka's own tool
it refuses while the group has active members (its state is not Empty or
Dead): stop the group's consumers first. A group that does not exist yet is
created with the new offsets.`,
		Example: `  weir group reset-offsets audit --topic orders --to-earliest
  weir group reset-offsets audit --topic orders --partition 2 --shift-by -100 --execute`,
		Args: argsOrUsage(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runResetOffsets(cmd, cf, &f, args[0])
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.topic, "topic", "", "the topic whose offsets to reset (required)")
	fl.Int32Var(&f.partition, "partition", -1, "reset only this partition; -1 means all")
	fl.BoolVar(&f.toEarliest, "to-earliest", false, "reset to the log start offset")
	fl.BoolVar(&f.toLatest, "to-latest", false, "reset to the log end offset")
	fl.Int64Var(&f.toOffset, "to-offset", 0, "reset to this offset (clamped to the log)")
	fl.Int64Var(&f.toTimestamp, "to-timestamp", 0, "reset to the first record at or after this time, in ms since the epoch")
	fl.Int64Var(&f.shiftBy, "shift-by", 0, "move the committed offset by this many records (negative: back)")
	fl.BoolVar(&f.execute, "execute", false, "commit the new offsets (without it, only print the plan)")
	return cmd
}

// target returns the one reset target the flags give, or a usage error.
func (f *resetFlags) target(cmd *cobra.Command) (resetTarget, error) {
	var ts []resetTarget
	changed := cmd.Flags().Changed
	if f.toEarliest {
		ts = append(ts, resetTarget{kind: resetToEarliest})
	}
	if f.toLatest {
		ts = append(ts, resetTarget{kind: resetToLatest})
	}
	if changed("to-offset") {
		if f.toOffset < 0 {
			return resetTarget{}, usageError(cmd, "--to-offset must be 0 or more, got %d", f.toOffset)
		}
		ts = append(ts, resetTarget{kind: resetToOffset, value: f.toOffset})
	}
	if changed("to-timestamp") {
		if f.toTimestamp < 0 {
			return resetTarget{}, usageError(cmd, "--to-timestamp must be 0 or more (ms since the epoch), got %d", f.toTimestamp)
		}
		ts = append(ts, resetTarget{kind: resetToTimestamp, value: f.toTimestamp})
	}
	if changed("shift-by") {
		ts = append(ts, resetTarget{kind: resetShiftBy, value: f.shiftBy})
	}
	if len(ts) != 1 {
		return resetTarget{}, usageError(cmd, "give exactly one of --to-earliest, --to-latest, --to-offset, --to-timestamp, --shift-by (got %d)", len(ts))
	}
	return ts[0], nil
}

// partitionState is what a reset plan starts from for one partition.
type partitionState struct {
	partition int32
	committed int64 // -1: nothing committed
	logStart  int64
	logEnd    int64
	atTime    int64 // for --to-timestamp: the first offset at or after it
}

// resetRow is one partition of a reset plan.
type resetRow struct {
	partition int32
	current   int64 // -1: nothing committed
	next      int64
	note      string // why next differs from what was asked, if it does
}

// planReset returns the new offset of each partition, clamped to the log,
// in the order of ps. It fails when --shift-by meets a partition with no
// committed offset.
func planReset(t resetTarget, ps []partitionState) ([]resetRow, error) {
	rows := make([]resetRow, 0, len(ps))
	for _, p := range ps {
		var want int64
		switch t.kind {
		case resetToEarliest:
			want = p.logStart
		case resetToLatest:
			want = p.logEnd
		case resetToOffset:
			want = t.value
		case resetToTimestamp:
			want = p.atTime
		case resetShiftBy:
			if p.committed < 0 {
				return nil, fmt.Errorf("partition %d has no committed offset to shift; use --to-earliest, --to-latest, --to-offset or --to-timestamp", p.partition)
			}
			want = p.committed + t.value
			if t.value > 0 && p.committed > math.MaxInt64-t.value {
				want = math.MaxInt64
			}
		}
		r := resetRow{partition: p.partition, current: p.committed, next: want}
		switch {
		case want < p.logStart:
			r.next, r.note = p.logStart, fmt.Sprintf("%d is before the log start: clamped", want)
		case want > p.logEnd:
			r.next, r.note = p.logEnd, fmt.Sprintf("%d is past the log end: clamped", want)
		}
		rows = append(rows, r)
	}
	return rows, nil
}

func runResetOffsets(cmd *cobra.Command, cf *clientFlags, f *resetFlags, group string) error {
	target, err := f.target(cmd)
	if err != nil {
		return err
	}
	if f.topic == "" {
		return usageError(cmd, "--topic is required")
	}
	if f.partition < -1 {
		return usageError(cmd, "--partition must be 0 or more (or -1 for all), got %d", f.partition)
	}
	ctx, adm, done, err := cf.adminSession(cmd)
	if err != nil {
		return err
	}
	defer done()

	active, err := groupActivity(ctx, adm, group)
	if err != nil {
		return err
	}
	if f.execute && active != nil {
		return active
	}
	states, err := resetInputs(ctx, adm, group, f.topic, f.partition, target)
	if err != nil {
		return err
	}
	rows, err := planReset(target, states)
	if err != nil {
		return fmt.Errorf("group %q, topic %q: %w", group, f.topic, err)
	}
	if err := writeResetPlan(cmd.OutOrStdout(), f.topic, rows); err != nil {
		return err
	}
	stderr := cmd.ErrOrStderr()
	if !f.execute {
		fmt.Fprintf(stderr, "dry run: nothing was committed; add --execute to commit the NEW offsets for group %s\n", group)
		if active != nil {
			fmt.Fprintf(stderr, "weir: warning: --execute will refuse for now: %v\n", active)
		}
		return nil
	}

	var offsets kadm.Offsets
	for _, r := range rows {
		offsets.Add(kadm.Offset{Topic: f.topic, Partition: r.partition, At: r.next, LeaderEpoch: -1})
	}
	rs, err := adm.CommitOffsets(ctx, group, offsets)
	if err != nil {
		return fmt.Errorf("committing offsets for group %q: %w", group, withBrokerMessage(err, ""))
	}
	var errs []error
	committed := 0
	for _, r := range rows {
		o, ok := rs.Lookup(f.topic, r.partition)
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("committing %s partition %d: the broker's response does not mention it", f.topic, r.partition))
		case o.Err == nil:
			committed++
		case errors.Is(o.Err, kerr.UnknownMemberID), errors.Is(o.Err, kerr.IllegalGeneration),
			errors.Is(o.Err, kerr.RebalanceInProgress), errors.Is(o.Err, kerr.StaleMemberEpoch):
			// A member joined between the state check and the commit.
			errs = append(errs, fmt.Errorf("committing %s partition %d: group %q has active members; stop its consumers and try again: %w",
				f.topic, r.partition, group, withBrokerMessage(o.Err, "")))
		default:
			errs = append(errs, fmt.Errorf("committing %s partition %d: %w", f.topic, r.partition, withBrokerMessage(o.Err, "")))
		}
	}
	fmt.Fprintf(stderr, "committed the NEW offsets of %d of %d partitions for group %s\n", committed, len(rows), group)
	return errors.Join(errs...)
}

// groupActivity returns an error saying the group is active when it has
// members (its state is neither Empty nor Dead), nil when it is inactive or
// does not exist, or the error that kept it from being described.
func groupActivity(ctx context.Context, adm *kadm.Client, group string) (active, err error) {
	described, err := adm.DescribeGroups(ctx, group)
	if err != nil {
		return nil, fmt.Errorf("describing group %q: %w", group, err)
	}
	g, ok := described[group]
	switch {
	case !ok:
		return nil, fmt.Errorf("describing group %q: %w", group, noAnswer(nil))
	case errors.Is(g.Err, kerr.GroupIDNotFound):
		// Committing creates it. (A KIP-848 group on a broker that
		// describes only classic groups lands here too; the broker then
		// refuses a commit while it has members.)
		return nil, nil
	case g.Err != nil:
		return nil, fmt.Errorf("describing group %q: %w", group, withBrokerMessage(g.Err, g.ErrMessage))
	case g.State == "Empty" || g.State == "Dead":
		return nil, nil
	}
	return fmt.Errorf("group %q is %s with %d active member(s): offsets can only be reset while the group is inactive (Empty); stop its consumers and try again",
		group, g.State, len(g.Members)), nil
}

// resetInputs gathers each partition's committed offset, log start and log
// end (and the offset at the target time) for planReset.
func resetInputs(ctx context.Context, adm *kadm.Client, group, topic string, partition int32, t resetTarget) ([]partitionState, error) {
	tds, err := adm.ListTopics(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("looking up topic %q: %w", topic, err)
	}
	td, ok := tds[topic]
	switch {
	case !ok:
		return nil, fmt.Errorf("topic %q: %w", topic, withBrokerMessage(kerr.UnknownTopicOrPartition, ""))
	case td.Err != nil:
		return nil, fmt.Errorf("topic %q: %w", topic, withBrokerMessage(td.Err, ""))
	}
	partitions := td.Partitions.Numbers()
	if partition >= 0 {
		if _, ok := td.Partitions[partition]; !ok {
			return nil, fmt.Errorf("topic %q has %d partitions, no partition %d: %w", topic, len(td.Partitions), partition,
				withBrokerMessage(kerr.UnknownTopicOrPartition, ""))
		}
		partitions = []int32{partition}
	}

	commits, err := adm.FetchOffsets(ctx, group)
	if err != nil && !errors.Is(err, kerr.GroupIDNotFound) {
		return nil, fmt.Errorf("fetching the committed offsets of group %q: %w", group, withBrokerMessage(err, ""))
	}
	starts, err := adm.ListStartOffsets(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("listing log start offsets of %q: %w", topic, err)
	}
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return nil, fmt.Errorf("listing log end offsets of %q: %w", topic, err)
	}
	var atTime kadm.ListedOffsets
	if t.kind == resetToTimestamp {
		if atTime, err = adm.ListOffsetsAfterMilli(ctx, t.value, topic); err != nil {
			return nil, fmt.Errorf("listing offsets of %q at time %d: %w", topic, t.value, err)
		}
	}

	lookup := func(l kadm.ListedOffsets, what string, p int32) (int64, error) {
		o, ok := l.Lookup(topic, p)
		switch {
		case !ok:
			return 0, fmt.Errorf("listing the %s of %s partition %d: the broker's response does not mention it", what, topic, p)
		case o.Err != nil:
			return 0, fmt.Errorf("listing the %s of %s partition %d: %w", what, topic, p, withBrokerMessage(o.Err, ""))
		}
		return o.Offset, nil
	}
	states := make([]partitionState, 0, len(partitions))
	for _, p := range partitions {
		s := partitionState{partition: p, committed: -1}
		if c, ok := commits.Lookup(topic, p); ok {
			if c.Err != nil {
				return nil, fmt.Errorf("fetching the committed offset of %s partition %d: %w", topic, p, withBrokerMessage(c.Err, ""))
			}
			s.committed = c.At
		}
		if s.logStart, err = lookup(starts, "log start offset", p); err != nil {
			return nil, err
		}
		if s.logEnd, err = lookup(ends, "log end offset", p); err != nil {
			return nil, err
		}
		if atTime != nil {
			if s.atTime, err = lookup(atTime, "offset at the time", p); err != nil {
				return nil, err
			}
		}
		states = append(states, s)
	}
	return states, nil
}

func writeResetPlan(w io.Writer, topic string, rows []resetRow) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TOPIC\tPARTITION\tCURRENT\tNEW")
	for _, r := range rows {
		cur := "-"
		if r.current >= 0 {
			cur = fmt.Sprint(r.current)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%d", topic, r.partition, cur, r.next)
		if r.note != "" {
			fmt.Fprintf(tw, "\t(%s)", r.note)
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}

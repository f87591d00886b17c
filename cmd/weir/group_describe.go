package main

// `weir group describe`: a group's state and members (DescribeGroups), and
// per partition its committed offset (OffsetFetch), log end offset
// (ListOffsets) and lag, shown as text or JSON from one groupDescription.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// groupDescription is one group of `weir group describe`, as --format json
// prints it; the text format shows the same fields.
type groupDescription struct {
	Group        string        `json:"group"`
	State        string        `json:"state"`
	ProtocolType string        `json:"protocol_type"`
	Protocol     string        `json:"protocol"` // the assignor, for consumer groups
	Coordinator  int32         `json:"coordinator"`
	Members      []groupMember `json:"members"`
	Offsets      []groupOffset `json:"offsets"`
	// TotalLag sums the lag of the partitions whose lag is known.
	TotalLag int64 `json:"total_lag"`
	// OffsetsError says why Offsets is empty when they could not be fetched.
	OffsetsError string `json:"offsets_error,omitempty"`
}

type groupMember struct {
	MemberID   string            `json:"member_id"`
	InstanceID *string           `json:"instance_id"`
	ClientID   string            `json:"client_id"`
	ClientHost string            `json:"client_host"`
	Assignment []topicPartitions `json:"assignment"`
}

type topicPartitions struct {
	Topic      string  `json:"topic"`
	Partitions []int32 `json:"partitions"`
}

// groupOffset is one partition the group consumes or has committed to.
type groupOffset struct {
	Topic     string  `json:"topic"`
	Partition int32   `json:"partition"`
	Committed *int64  `json:"committed"` // nil: nothing committed
	LogEnd    *int64  `json:"log_end"`   // nil: unknown, see Error
	Lag       *int64  `json:"lag"`       // nil: unknown, see Error
	MemberID  *string `json:"member_id"` // nil: not assigned to a member
	Error     string  `json:"error,omitempty"`
}

func newGroupDescribeCommand(cf *clientFlags) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "describe GROUP...",
		Short: "Show groups' state, members, assignments, committed offsets and lag",
		Long: `Show, for each group: its state, protocol type, protocol (the assignor of a
consumer group) and coordinator; its members with their member id, static
instance id, client id, host and assigned partitions (DescribeGroups); and,
for every partition the group is assigned, subscribed to or has committed to,
the committed offset (OffsetFetch), the log end offset (ListOffsets), the lag
between them and the member that consumes it, followed by the total lag.

A partition with no committed offset lags by all its records (log end minus
log start). A group that does not exist is reported and the others still
shown; the exit status is then 1.`,
		Example: `  weir group describe audit billing
  weir group describe audit --format json | jq '.[0].total_lag'`,
		Args: argsOrUsage(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutputFormat(cmd, format); err != nil {
				return err
			}
			ctx, adm, done, err := cf.adminSession(cmd)
			if err != nil {
				return err
			}
			defer done()
			descs, errs := describeGroups(ctx, adm, uniqueStrings(args))
			out := cmd.OutOrStdout()
			if format == "json" {
				if descs == nil {
					descs = []groupDescription{}
				}
				if err := writeJSON(out, descs); err != nil {
					return err
				}
			} else {
				for i, d := range descs {
					if i > 0 {
						fmt.Fprintln(out)
					}
					if err := writeGroupDescription(out, d); err != nil {
						return err
					}
				}
			}
			return errors.Join(errs...)
		},
	}
	cmd.Flags().StringVar(&format, "format", "text", "output format: text or json")
	return cmd
}

// describeGroups gathers what `weir group describe` shows for the groups
// that exist, in the order given, and an error for each group that does not
// or could not be described fully.
func describeGroups(ctx context.Context, adm *kadm.Client, names []string) ([]groupDescription, []error) {
	described, derr := adm.DescribeGroups(ctx, names...)
	if partialOK(derr) != nil {
		return nil, []error{fmt.Errorf("describing groups: %w", derr)}
	}
	var (
		found    []kadm.DescribedGroup
		consumer []string // KIP-848 groups: DescribeGroups does not describe them
		errs     []error
	)
	for _, n := range names {
		g, ok := described[n]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("group %q: %w", n, noAnswer(derr)))
		case errors.Is(g.Err, kerr.GroupIDNotFound) || (g.Err == nil && g.State == "Dead"):
			// Not a classic group (or, before DescribeGroups v6, a
			// missing one described as Dead): it may be a KIP-848 group.
			consumer = append(consumer, n)
		case g.Err != nil:
			errs = append(errs, fmt.Errorf("group %q: %w", n, withBrokerMessage(g.Err, g.ErrMessage)))
		default:
			found = append(found, g)
		}
	}
	cdescs, cerrs := describeConsumerGroups(ctx, adm, consumer)
	errs = append(errs, cerrs...)

	commits := make(map[string]kadm.OffsetResponses, len(found))
	fetchErrs := make(map[string]error)
	want := make(kadm.TopicsSet)
	for _, g := range found {
		fetched, err := adm.FetchOffsets(ctx, g.Group)
		if err != nil && !errors.Is(err, kerr.GroupIDNotFound) {
			fetchErrs[g.Group] = withBrokerMessage(err, "")
			errs = append(errs, fmt.Errorf("group %q: fetching committed offsets: %w", g.Group, fetchErrs[g.Group]))
			continue
		}
		commits[g.Group] = fetched
		want.Merge(fetched.Partitions())
		want.Merge(g.AssignedPartitions())
		want.MergeTopics(g.JoinTopics())
	}
	var starts, ends kadm.ListedOffsets
	if topics := want.Topics(); len(topics) > 0 {
		var err error
		// A listing that fails leaves its partitions' lag unknown, with
		// the reason in the partition's row.
		starts, err = adm.ListStartOffsets(ctx, topics...)
		if partialOK(err) != nil {
			errs = append(errs, fmt.Errorf("listing log start offsets: %w", err))
		}
		ends, err = adm.ListEndOffsets(ctx, topics...)
		if partialOK(err) != nil {
			errs = append(errs, fmt.Errorf("listing log end offsets: %w", err))
		}
		expandMissingTopics(starts, want)
		expandMissingTopics(ends, want)
	}

	descs := make([]groupDescription, 0, len(found))
	for _, g := range found {
		d := groupDescription{
			Group:        g.Group,
			State:        g.State,
			ProtocolType: g.ProtocolType,
			Protocol:     g.Protocol,
			Coordinator:  g.Coordinator.NodeID,
			Members:      make([]groupMember, 0, len(g.Members)),
			Offsets:      []groupOffset{},
		}
		for _, m := range g.Members {
			gm := groupMember{MemberID: m.MemberID, InstanceID: m.InstanceID, ClientID: m.ClientID, ClientHost: m.ClientHost,
				Assignment: []topicPartitions{}}
			if a, ok := m.Assigned.AsConsumer(); ok {
				for _, t := range a.Topics {
					ps := slices.Clone(t.Partitions)
					slices.Sort(ps)
					gm.Assignment = append(gm.Assignment, topicPartitions{Topic: t.Topic, Partitions: ps})
				}
				slices.SortFunc(gm.Assignment, func(a, b topicPartitions) int { return strings.Compare(a.Topic, b.Topic) })
			}
			d.Members = append(d.Members, gm)
		}
		if err := fetchErrs[g.Group]; err != nil {
			d.OffsetsError = err.Error()
			descs = append(descs, d)
			continue
		}
		for _, l := range kadm.CalculateGroupLagWithStartOffsets(g, commits[g.Group], starts, ends).Sorted() {
			o := groupOffset{Topic: l.Topic, Partition: l.Partition}
			if l.Commit.At >= 0 {
				o.Committed = &l.Commit.At
			}
			if l.End.Err == nil {
				o.LogEnd = &l.End.Offset
			}
			if l.Err == nil {
				o.Lag = &l.Lag
				d.TotalLag += l.Lag
			} else {
				o.Error = withBrokerMessage(l.Err, "").Error()
			}
			if l.Member != nil {
				o.MemberID = &l.Member.MemberID
			}
			d.Offsets = append(d.Offsets, o)
		}
		descs = append(descs, d)
	}
	return append(descs, cdescs...), errs
}

// describeConsumerGroups describes KIP-848 groups (ConsumerGroupDescribe):
// members with their assignments, and per partition the committed offset,
// log end and lag. A group that is not a consumer group either is reported
// as not found.
func describeConsumerGroups(ctx context.Context, adm *kadm.Client, names []string) ([]groupDescription, []error) {
	if len(names) == 0 {
		return nil, nil
	}
	var errs []error
	described, derr := adm.DescribeConsumerGroups(ctx, names...)
	var descs []groupDescription
	for _, n := range names {
		g, ok := described[n]
		if !ok || g.Err != nil {
			// Brokers without ConsumerGroupDescribe, and groups of neither
			// kind, end here.
			errs = append(errs, fmt.Errorf("group %q: %w", n, withBrokerMessage(kerr.GroupIDNotFound, "")))
			continue
		}
		d := groupDescription{Group: n, State: g.State, ProtocolType: "consumer", Protocol: g.AssignorName,
			Coordinator: g.Coordinator.NodeID, Members: []groupMember{}, Offsets: []groupOffset{}}
		owner := map[string]map[int32]string{}
		want := kadm.TopicsSet{}
		for _, m := range g.Members {
			gm := groupMember{MemberID: m.MemberID, InstanceID: m.InstanceID, ClientID: m.ClientID, ClientHost: m.ClientHost,
				Assignment: []topicPartitions{}}
			for _, t := range slices.Sorted(maps.Keys(m.Assignment)) {
				ps := slices.Sorted(maps.Keys(m.Assignment[t]))
				gm.Assignment = append(gm.Assignment, topicPartitions{Topic: t, Partitions: ps})
				for _, p := range ps {
					if owner[t] == nil {
						owner[t] = map[int32]string{}
					}
					owner[t][p] = m.MemberID
					want.Add(t, p)
				}
			}
			d.Members = append(d.Members, gm)
		}
		fetched, err := adm.FetchOffsets(ctx, n)
		if err != nil && !errors.Is(err, kerr.GroupIDNotFound) {
			d.OffsetsError = withBrokerMessage(err, "").Error()
			descs = append(descs, d)
			continue
		}
		want.Merge(fetched.Partitions())
		var ends, starts kadm.ListedOffsets
		if topics := want.Topics(); len(topics) > 0 {
			ends, _ = adm.ListEndOffsets(ctx, topics...)
			starts, _ = adm.ListStartOffsets(ctx, topics...)
		}
		for _, t := range slices.Sorted(maps.Keys(want)) {
			for _, p := range slices.Sorted(maps.Keys(want[t])) {
				o := groupOffset{Topic: t, Partition: p}
				from := int64(-1)
				if c, ok := fetched.Lookup(t, p); ok && c.Err == nil && c.At >= 0 {
					at := c.At
					o.Committed, from = &at, at
				}
				if e, ok := ends.Lookup(t, p); ok && e.Err == nil {
					end := e.Offset
					o.LogEnd = &end
					if from < 0 {
						if st, ok := starts.Lookup(t, p); ok && st.Err == nil {
							from = st.Offset
						}
					}
					if from >= 0 {
						lag := max(end-from, 0)
						o.Lag = &lag
						d.TotalLag += lag
					}
				} else {
					o.Error = "log end offset unknown"
				}
				if m, ok := owner[t][p]; ok {
					o.MemberID = &m
				}
				d.Offsets = append(d.Offsets, o)
			}
		}
		descs = append(descs, d)
	}
	if derr != nil && len(descs) == 0 && len(errs) == 0 {
		errs = append(errs, fmt.Errorf("describing consumer groups: %w", derr))
	}
	return descs, errs
}

// expandMissingTopics replaces the single partition -1 that kadm lists for
// a topic it could not look up with that error on each partition in want,
// so that the partitions show the error rather than a partition -1.
func expandMissingTopics(l kadm.ListedOffsets, want kadm.TopicsSet) {
	for t, ps := range l {
		bad, ok := ps[-1]
		if !ok || len(ps) != 1 {
			continue
		}
		delete(ps, -1)
		for p := range want[t] {
			ps[p] = kadm.ListedOffset{Topic: t, Partition: p, Offset: -1, Err: bad.Err}
		}
	}
}

// writeGroupDescription writes one group's block of `weir group describe`.
func writeGroupDescription(w io.Writer, d groupDescription) error {
	fmt.Fprintf(w, "Group: %s\n", d.Group)
	fmt.Fprintf(w, "  State: %s  Protocol type: %s  Protocol: %s  Coordinator: %d  Members: %d\n",
		dash(d.State), dash(d.ProtocolType), dash(d.Protocol), d.Coordinator, len(d.Members))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if len(d.Members) > 0 {
		fmt.Fprintln(tw, "  MEMBER-ID\tINSTANCE-ID\tCLIENT-ID\tHOST\tASSIGNMENT")
		for _, m := range d.Members {
			inst := "-"
			if m.InstanceID != nil {
				inst = *m.InstanceID
			}
			var parts []string
			for _, a := range m.Assignment {
				parts = append(parts, a.Topic+":"+joinInt32s(a.Partitions))
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\n", m.MemberID, inst, dash(m.ClientID), dash(m.ClientHost), dash(strings.Join(parts, " ")))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if d.OffsetsError != "" {
		fmt.Fprintf(w, "  Offsets: unavailable: %s\n", d.OffsetsError)
		return nil
	}
	if len(d.Offsets) == 0 {
		fmt.Fprintln(w, "  Offsets: none committed")
		return nil
	}
	fmt.Fprintln(tw, "  TOPIC\tPARTITION\tCOMMITTED\tLOG-END\tLAG\tMEMBER-ID")
	unknown := 0
	byTopic := map[string]int64{}
	var topics []string
	for _, o := range d.Offsets {
		if _, seen := byTopic[o.Topic]; !seen {
			topics = append(topics, o.Topic)
			byTopic[o.Topic] = 0
		}
		member := "-"
		if o.MemberID != nil {
			member = *o.MemberID
		}
		fmt.Fprintf(tw, "  %s\t%d\t%s\t%s\t%s\t%s", o.Topic, o.Partition,
			optOffset(o.Committed, "-"), optOffset(o.LogEnd, "?"), optOffset(o.Lag, "?"), member)
		if o.Lag == nil {
			unknown++
			fmt.Fprintf(tw, "\t%s", o.Error)
		} else {
			byTopic[o.Topic] += *o.Lag
		}
		fmt.Fprintln(tw)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	total := "  Total lag: " + strconv.FormatInt(d.TotalLag, 10)
	if len(topics) > 1 {
		var parts []string
		for _, t := range topics {
			parts = append(parts, t+" "+strconv.FormatInt(byTopic[t], 10))
		}
		total += " (" + strings.Join(parts, ", ") + ")"
	}
	if unknown > 0 {
		total += fmt.Sprintf("; unknown for %d partition(s)", unknown)
	}
	_, err := fmt.Fprintln(w, total)
	return err
}

func optOffset(o *int64, missing string) string {
	if o == nil {
		return missing
	}
	return strconv.FormatInt(*o, 10)
}

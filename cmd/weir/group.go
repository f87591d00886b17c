package main

// `weir group`: list and delete consumer groups here, describe them
// (group_describe.go) and reset their committed offsets (group_reset.go),
// with the Kafka admin APIs. Like the other client commands they work
// against any Kafka-compatible broker.

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kerr"
)

func newGroupCommand() *cobra.Command {
	var cf clientFlags
	cmd := &cobra.Command{
		Use:   "group",
		Short: "List, describe and delete consumer groups and reset their offsets on any Kafka-compatible broker",
		Long: `Manage consumer groups with the Kafka admin APIs (ListGroups, DescribeGroups,
OffsetFetch, ListOffsets, DeleteGroups, OffsetCommit). They work against Weir
and against any Kafka-compatible broker.

Broker errors are shown by their Kafka name and the broker's message, e.g.
"NON_EMPTY_GROUP: The group is not empty.", and make the command exit with
status 1.`,
		Args: cobra.ArbitraryArgs,
		RunE: helpOrUnknown,
	}
	addClientFlags(cmd, &cf)
	cmd.AddCommand(
		newGroupListCommand(&cf),
		newGroupDescribeCommand(&cf),
		newGroupDeleteCommand(&cf),
		newGroupResetOffsetsCommand(&cf),
	)
	return cmd
}

// groupStates are the group states Kafka names, classic and KIP-848.
var groupStates = []string{
	"Empty", "Stable", "PreparingRebalance", "CompletingRebalance", "Dead",
	"Assigning", "Reconciling", "NotReady",
}

// parseGroupStates returns the states given to --state, spelt as Kafka
// spells them (the flag ignores case), without repeats; or an error naming
// the valid states.
func parseGroupStates(in []string) ([]string, error) {
	var out []string
	for _, s := range in {
		s = strings.TrimSpace(s)
		i := slices.IndexFunc(groupStates, func(st string) bool { return strings.EqualFold(st, s) })
		if i < 0 {
			return nil, fmt.Errorf("unknown group state %q: want one of %s", s, strings.Join(groupStates, ", "))
		}
		if !slices.Contains(out, groupStates[i]) {
			out = append(out, groupStates[i])
		}
	}
	return out, nil
}

// checkOutputFormat validates --format text|json.
func checkOutputFormat(cmd *cobra.Command, format string) error {
	if format != "text" && format != "json" {
		return usageError(cmd, "--format %q: want text or json", format)
	}
	return nil
}

// writeJSON writes v as indented JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// noAnswer explains why a group is missing from a sharded response: the
// shard error when there is one.
func noAnswer(shardErr error) error {
	if shardErr != nil {
		return fmt.Errorf("its coordinator did not answer: %w", shardErr)
	}
	return errors.New("the broker's response does not mention it")
}

// dash shows an empty string as "-".
func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// listedGroup is one group of `weir group list`, as --format json prints it.
type listedGroup struct {
	Group        string `json:"group"`
	State        string `json:"state"`
	ProtocolType string `json:"protocol_type"`
	Coordinator  int32  `json:"coordinator"`
}

func newGroupListCommand(cf *clientFlags) *cobra.Command {
	var (
		states []string
		format string
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List consumer groups with their state and protocol type",
		Long: `List the groups of every broker (ListGroups), sorted by name, with their
state, protocol type ("consumer" for consumer groups; "-" for groups that only
hold offsets committed by an admin tool) and coordinator. --state keeps only
groups in the given states (case does not matter): ` + strings.Join(groupStates, ", ") + `.

When some brokers do not answer, the groups of the others are printed and
the exit status is 1.`,
		Example: `  weir group list --state Empty --state Stable
  weir group list --format json`,
		Args: argsOrUsage(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			want, err := parseGroupStates(states)
			if err != nil {
				return usageError(cmd, "--state: %v", err)
			}
			if err := checkOutputFormat(cmd, format); err != nil {
				return err
			}
			ctx, adm, done, err := cf.adminSession(cmd)
			if err != nil {
				return err
			}
			defer done()
			listed, lerr := adm.ListGroups(ctx, want...)
			if partialOK(lerr) != nil {
				return fmt.Errorf("listing groups: %w", lerr)
			}
			rows := []listedGroup{}
			for _, g := range listed.Sorted() {
				// Brokers older than ListGroups v4 ignore the filter.
				if len(want) > 0 && !slices.Contains(want, g.State) {
					continue
				}
				rows = append(rows, listedGroup{Group: g.Group, State: g.State, ProtocolType: g.ProtocolType, Coordinator: g.Coordinator})
			}
			if err := writeGroupList(cmd.OutOrStdout(), format, rows); err != nil {
				return err
			}
			if lerr != nil {
				return fmt.Errorf("listing groups: incomplete, groups of brokers that did not answer are missing: %w", lerr)
			}
			return nil
		},
	}
	cmd.Flags().StringSliceVar(&states, "state", nil, "show only groups in this state (repeatable, or comma-separated)")
	cmd.Flags().StringVar(&format, "format", "text", "output format: text or json")
	return cmd
}

func writeGroupList(w io.Writer, format string, rows []listedGroup) error {
	if format == "json" {
		return writeJSON(w, rows)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "GROUP\tSTATE\tPROTOCOL-TYPE\tCOORDINATOR")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\n", r.Group, dash(r.State), dash(r.ProtocolType), r.Coordinator)
	}
	return tw.Flush()
}

func newGroupDeleteCommand(cf *clientFlags) *cobra.Command {
	var ifExists bool
	cmd := &cobra.Command{
		Use:   "delete GROUP...",
		Short: "Delete consumer groups and their committed offsets",
		Long: `Delete groups with their committed offsets (DeleteGroups). A group can only
be deleted while it has no active members. Each group is attempted; any
failure makes the exit status 1. With --if-exists a group that does not exist
is not an error.`,
		Args: argsOrUsage(cobra.MinimumNArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			names := uniqueStrings(args)
			ctx, adm, done, err := cf.adminSession(cmd)
			if err != nil {
				return err
			}
			defer done()
			rs, derr := adm.DeleteGroups(ctx, names...)
			if partialOK(derr) != nil {
				return fmt.Errorf("deleting groups: %w", derr)
			}
			var errs []error
			for _, n := range names {
				r, ok := rs[n]
				switch {
				case !ok:
					errs = append(errs, fmt.Errorf("deleting group %q: %w", n, noAnswer(derr)))
				case r.Err == nil:
					fmt.Fprintf(cmd.OutOrStdout(), "deleted group %s\n", n)
				case ifExists && errors.Is(r.Err, kerr.GroupIDNotFound):
				case errors.Is(r.Err, kerr.NonEmptyGroup):
					errs = append(errs, fmt.Errorf("deleting group %q: it has active members; stop its consumers and try again: %w",
						n, withBrokerMessage(r.Err, r.ErrMessage)))
				default:
					errs = append(errs, fmt.Errorf("deleting group %q: %w", n, withBrokerMessage(r.Err, r.ErrMessage)))
				}
			}
			return errors.Join(errs...)
		},
	}
	cmd.Flags().BoolVar(&ifExists, "if-exists", false, "succeed for groups that do not exist")
	return cmd
}

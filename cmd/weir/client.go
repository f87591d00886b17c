package main

// Shared pieces of the Kafka client commands (topic, produce, consume):
// the --brokers and --timeout flags, client construction, how Kafka errors
// and usage mistakes are shown. The client commands speak only the Kafka
// protocol, so they work against Weir and against any other
// Kafka-compatible broker.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

const (
	// brokersEnv names the environment variable that supplies --brokers'
	// default.
	brokersEnv     = "WEIR_BROKERS"
	defaultBrokers = "127.0.0.1:9092"
	defaultTimeout = 30 * time.Second
)

// clientFlags are the flags every client command takes.
type clientFlags struct {
	brokers string
	timeout time.Duration
}

// addClientFlags declares --brokers and --timeout as persistent flags of cmd,
// so that its subcommands inherit them. It also makes flag parsing mistakes
// print the usage.
func addClientFlags(cmd *cobra.Command, f *clientFlags) {
	def := defaultBrokers
	if v := strings.TrimSpace(os.Getenv(brokersEnv)); v != "" {
		def = v
	}
	pf := cmd.PersistentFlags()
	pf.StringVar(&f.brokers, "brokers", def,
		"comma-separated seed brokers, host:port; $"+brokersEnv+" sets the default")
	pf.DurationVar(&f.timeout, "timeout", defaultTimeout,
		"how long to wait for the brokers: to connect, for each admin request, for each record's delivery, for a group's commit")
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usageError(c, "%v", err) })
}

// seeds returns the seed broker addresses, or a usage error.
func (f *clientFlags) seeds(cmd *cobra.Command) ([]string, error) {
	var seeds []string
	for s := range strings.SplitSeq(f.brokers, ",") {
		if s = strings.TrimSpace(s); s != "" {
			seeds = append(seeds, s)
		}
	}
	if len(seeds) == 0 {
		return nil, usageError(cmd, "--brokers: no broker address given")
	}
	if f.timeout <= 0 {
		return nil, usageError(cmd, "--timeout must be positive, got %v", f.timeout)
	}
	return seeds, nil
}

// connect returns a client that has reached at least one seed broker, with
// opts applied after the common ones. The caller must Close it. It returns
// a usage error for bad flags and a "cannot reach" error when no seed
// answers within --timeout.
func (f *clientFlags) connect(ctx context.Context, cmd *cobra.Command, opts ...kgo.Opt) (*kgo.Client, error) {
	seeds, err := f.seeds(cmd)
	if err != nil {
		return nil, err
	}
	all := append([]kgo.Opt{
		kgo.SeedBrokers(seeds...),
		kgo.ClientID("weir-cli"),
		kgo.DialTimeout(f.timeout),
	}, opts...)
	cl, err := kgo.NewClient(all...)
	if err != nil {
		return nil, err
	}
	// A broker that is still starting refuses connections: try again
	// until --timeout, so that a script may start brokers and use them.
	pctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	for wait := 50 * time.Millisecond; ; wait = min(2*wait, time.Second) {
		err := cl.Ping(pctx)
		if err == nil {
			return cl, nil
		}
		select {
		case <-pctx.Done():
			cl.Close()
			return nil, fmt.Errorf("cannot reach any of the brokers %s: %w", f.brokers, err)
		case <-time.After(wait):
		}
	}
}

// admin returns an admin client whose requests carry --timeout. The caller
// must Close it.
func (f *clientFlags) admin(ctx context.Context, cmd *cobra.Command) (*kadm.Client, error) {
	cl, err := f.connect(ctx, cmd)
	if err != nil {
		return nil, err
	}
	adm := kadm.NewClient(cl)
	adm.SetTimeoutMillis(int32(f.timeout.Milliseconds()))
	return adm, nil
}

// adminSession is what an admin command starts with: an admin client and a
// context bounded by --timeout. done closes both; call it when finished.
func (f *clientFlags) adminSession(cmd *cobra.Command) (context.Context, *kadm.Client, func(), error) {
	adm, err := f.admin(cmd.Context(), cmd)
	if err != nil {
		return nil, nil, nil, err
	}
	ctx, cancel := f.requestContext(cmd.Context())
	return ctx, adm, func() { cancel(); adm.Close() }, nil
}

// helpOrUnknown is the RunE of a parent command (weir topic, weir group):
// help when run alone, a usage error for an unknown subcommand.
func helpOrUnknown(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usageError(cmd, "unknown command %q for %q", args[0], cmd.CommandPath())
	}
	return cmd.Help()
}

// requestContext bounds one request by --timeout.
func (f *clientFlags) requestContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, f.timeout)
}

// brokerError is a Kafka error code with the message the broker sent with it.
// It unwraps to the *kerr.Error, so errors.Is(err, kerr.X) holds.
type brokerError struct {
	err error  // usually a *kerr.Error
	msg string // the broker's error message, if it sent one
}

func (e *brokerError) Error() string {
	var ke *kerr.Error
	if errors.As(e.err, &ke) {
		if e.msg != "" {
			return ke.Message + ": " + e.msg
		}
		return ke.Message + ": " + ke.Description
	}
	if e.msg != "" {
		return e.err.Error() + ": " + e.msg
	}
	return e.err.Error()
}

func (e *brokerError) Unwrap() error { return e.err }

// withBrokerMessage returns err (nil if err is nil) shown as its Kafka error
// name and the broker's message, falling back to the code's description.
func withBrokerMessage(err error, msg string) error {
	if err == nil {
		return nil
	}
	if be := (*brokerError)(nil); msg == "" && errors.As(err, &be) {
		return err
	}
	return &brokerError{err: err, msg: msg}
}

// partialOK drops a kadm *ShardErrors when some brokers answered, so that
// a command can show what it has (missing values print as "?"). Other
// errors are returned as they are.
func partialOK(err error) error {
	var se *kadm.ShardErrors
	if errors.As(err, &se) && !se.AllFailed {
		return nil
	}
	return err
}

// usageError prints cmd's usage to its error stream and returns the error
// (the root command silences cobra's own usage printing, which would
// otherwise also follow broker errors).
func usageError(cmd *cobra.Command, format string, args ...any) error {
	fmt.Fprint(cmd.ErrOrStderr(), cmd.UsageString())
	return fmt.Errorf(format, args...)
}

// argsOrUsage wraps a positional-argument check so that a failure prints
// the usage.
func argsOrUsage(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := check(cmd, args); err != nil {
			return usageError(cmd, "%v", err)
		}
		return nil
	}
}

// parseKeyValue splits "k=v" at the first '='. The key must not be empty;
// the value may be.
func parseKeyValue(s string) (key, value string, err error) {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return "", "", fmt.Errorf("%q is not key=value", s)
	}
	return k, v, nil
}

// isTerminal reports whether w is a character device such as a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

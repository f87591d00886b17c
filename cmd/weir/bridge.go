package main

// weir bridge nats runs the NATS bridge on its own, against any
// Kafka-compatible cluster; weir bridge status shows a bridge's routes,
// from `weir serve` or a standalone bridge, through its HTTP listener.
// startBridge runs the same bridge inside `weir serve`.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirmq/weir/core/config"
	"github.com/weirmq/weir/core/server"
	"github.com/weirmq/weir/partitioners"
	natsbridge "github.com/weirmq/weir/plugins/nats"
	"github.com/weirmq/weir/sdk"
)

const (
	bridgeStatusPath = "/v1/bridge/status"
	// bridgeHTTPEnv supplies the default of weir bridge status --http (the
	// variable the other HTTP API commands read).
	bridgeHTTPEnv     = "WEIR_HTTP"
	bridgeHTTPDefault = "127.0.0.1:9094"
)

// startBridge starts the [[bridge.nats]] routes of cfg inside `weir serve`,
// producing to the node's own Kafka listener at kafkaAddr, with the
// node's partitioners, metrics and HTTP listener (GET /v1/bridge/status,
// served even without routes). The returned stop closes the bridge; call
// it before the broker closes. A bad route is an error naming it.
func startBridge(cfg *config.Config, kafkaAddr string, parts natsbridge.PartitionerLookup, metrics prometheus.Registerer,
	httpSrv *server.HTTPServer, logger *slog.Logger) (stop func(), err error) {
	if len(cfg.Bridge.NATS) == 0 {
		httpSrv.Handle("GET "+bridgeStatusPath, emptyBridgeStatus())
		return func() {}, nil
	}
	br, err := natsbridge.Open(natsbridge.Options{
		Routes: cfg.Bridge.NATS, Brokers: []string{kafkaAddr}, Partitioners: parts,
		Metrics: metrics, Logger: logger.With("component", "nats-bridge"),
	})
	if err != nil {
		return nil, err
	}
	httpSrv.Handle("GET "+bridgeStatusPath, br.StatusHandler())
	logger.Info("nats bridge started", "routes", len(cfg.Bridge.NATS))
	return func() { br.Close() }, nil
}

func emptyBridgeStatus() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(natsbridge.StatusReport{Routes: []natsbridge.RouteStatus{}})
	})
}

func newBridgeCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bridge",
		Short: "Run the NATS bridge standalone, or show a bridge's routes",
		Long: `The NATS bridge copies core NATS subjects and JetStream streams into Kafka
topics, as the [[bridge.nats]] routes of weir.toml say. It runs inside
` + "`weir serve`" + ` when the node's configuration has routes, or on its own with
` + "`weir bridge nats`" + ` against any Kafka-compatible cluster.`,
		Args: cobra.ArbitraryArgs,
		RunE: helpOrUnknown,
	}
	cmd.AddCommand(newBridgeNATSCommand(), newBridgeStatusCommand())
	return cmd
}

type bridgeNATSFlags struct {
	configPath string
	httpAddr   string
}

func newBridgeNATSCommand() *cobra.Command {
	var cf clientFlags
	var f bridgeNATSFlags
	cmd := &cobra.Command{
		Use:   "nats --config FILE [--brokers ADDR]",
		Short: "Run the [[bridge.nats]] routes of a configuration file against any Kafka-compatible cluster",
		Long: `Run the [[bridge.nats]] routes of FILE (a weir.toml; its other sections are
checked but not used) against the cluster at --brokers, until interrupted.

Every route produces with acks=all and an idempotent producer. JetStream
routes ack a message only after its record is committed; core NATS routes
are at most once. Topics that do not exist are created with the cluster's
defaults. Records are placed by the topic's weir.partitioner (murmur2 when
it has none, as on clusters that are not Weir).

--http-addr serves /metrics, /healthz and ` + bridgeStatusPath + ` (read by
` + "`weir bridge status`" + `).`,
		Args: argsOrUsage(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runBridgeNATS(cmd, &cf, &f)
		},
	}
	addClientFlags(cmd, &cf)
	fl := cmd.Flags()
	fl.StringVar(&f.configPath, "config", "", "TOML file with [[bridge.nats]] routes (required)")
	fl.StringVar(&f.httpAddr, "http-addr", bridgeHTTPDefault, "address of the HTTP listener (/metrics, /healthz, "+bridgeStatusPath+"); port 0 picks one")
	return cmd
}

func runBridgeNATS(cmd *cobra.Command, cf *clientFlags, f *bridgeNATSFlags) error {
	if f.configPath == "" {
		return usageError(cmd, "--config is required: a TOML file with [[bridge.nats]] routes")
	}
	seeds, err := cf.seeds(cmd)
	if err != nil {
		return err
	}
	cfg, err := config.Load(f.configPath)
	if err != nil {
		return err
	}
	if len(cfg.Bridge.NATS) == 0 {
		return fmt.Errorf("%s has no [[bridge.nats]] routes", f.configPath)
	}
	reg := sdk.NewRegistry()
	if err := partitioners.Register(reg); err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), nil))
	metrics := prometheus.NewRegistry()
	metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	br, err := natsbridge.Open(natsbridge.Options{
		Routes: cfg.Bridge.NATS, Brokers: seeds, Partitioners: reg, Metrics: metrics, Logger: logger,
		KafkaOpts: []kgo.Opt{kgo.DialTimeout(cf.timeout)},
	})
	if err != nil {
		return err
	}
	defer br.Close()

	ln, err := net.Listen("tcp", f.httpAddr)
	if err != nil {
		return fmt.Errorf("--http-addr %s: %w", f.httpAddr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(metrics, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.Handle("GET "+bridgeStatusPath, br.StatusHandler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger.Info("weir nats bridge started", "routes", len(cfg.Bridge.NATS), "brokers", strings.Join(seeds, ","),
		"http_addr", ln.Addr().String())
	select {
	case <-ctx.Done():
	case err := <-served:
		return fmt.Errorf("http listener: %w", err)
	}
	logger.Info("shutting down")
	br.Close() // flushes what is in flight while the listener still answers
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	return nil
}

type bridgeStatusFlags struct {
	addr    string
	timeout time.Duration
	json    bool
}

func newBridgeStatusCommand() *cobra.Command {
	var f bridgeStatusFlags
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show each bridge route's counters, from a node's (or standalone bridge's) HTTP listener",
		Long: `Show each route of the bridge that serves --http: whether it is connected,
and how many messages it received, wrote, acked, dropped (core NATS),
dead-lettered and deduplicated (JetStream), and its lag.`,
		Args: argsOrUsage(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			report, err := fetchBridgeStatus(cmd.Context(), f.addr, f.timeout)
			if err != nil {
				return err
			}
			if f.json {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(report)
			}
			return printBridgeStatus(cmd.OutOrStdout(), report)
		},
	}
	def := bridgeHTTPDefault
	if v := strings.TrimSpace(os.Getenv(bridgeHTTPEnv)); v != "" {
		def = v
	}
	fl := cmd.Flags()
	fl.StringVar(&f.addr, "http", def, "the HTTP listener of the node or standalone bridge, host:port; $"+bridgeHTTPEnv+" sets the default")
	fl.DurationVar(&f.timeout, "timeout", 10*time.Second, "how long to wait for the answer")
	fl.BoolVar(&f.json, "json", false, "print the status as JSON")
	cmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usageError(c, "%v", err) })
	return cmd
}

// fetchBridgeStatus asks the HTTP listener at addr for the bridge status.
func fetchBridgeStatus(ctx context.Context, addr string, timeout time.Duration) (natsbridge.StatusReport, error) {
	var report natsbridge.StatusReport
	url := addr
	if !strings.Contains(url, "://") {
		url = "http://" + url
	}
	url = strings.TrimSuffix(url, "/") + bridgeStatusPath
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return report, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return report, fmt.Errorf("cannot reach %s: %w", addr, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return report, fmt.Errorf("reading %s: %w", url, err)
	}
	if resp.StatusCode == http.StatusNotFound {
		return report, fmt.Errorf("%s has no bridge status (%s): is it a Weir node or `weir bridge nats`?", addr, resp.Status)
	}
	if resp.StatusCode != http.StatusOK {
		return report, fmt.Errorf("%s: %s: %s", url, resp.Status, strings.TrimSpace(string(body)))
	}
	if err := json.Unmarshal(body, &report); err != nil {
		return report, fmt.Errorf("%s: not a bridge status: %w", url, err)
	}
	return report, nil
}

func printBridgeStatus(w io.Writer, report natsbridge.StatusReport) error {
	if len(report.Routes) == 0 {
		_, err := fmt.Fprintln(w, "no bridge routes")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ROUTE\tSOURCE\tTOPIC\tCONNECTED\tRECEIVED\tWRITTEN\tACKED\tDROPPED\tDEAD-LETTERED\tDEDUPLICATED\tERRORS\tLAG\tLAST ERROR")
	for _, r := range report.Routes {
		source := "subject " + r.Subject
		if r.Queue != "" {
			source += " (queue " + r.Queue + ")"
		}
		if r.Stream != "" {
			source = "stream " + r.Stream + " (durable " + r.Durable + ")"
		}
		connected := "no"
		if r.Connected {
			connected = "yes"
		}
		lastErr := "-"
		if r.LastError != "" {
			lastErr = r.LastErrorAt + " " + r.LastError
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s\n", r.Name, source, r.Topic, connected,
			r.Received, r.Written, r.Acked, r.Dropped, r.DeadLettered, r.Deduplicated, r.Errors, strconv.FormatInt(r.Lag, 10), lastErr)
	}
	return tw.Flush()
}

package goplugin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/weirmq/weir/sdk"
	"github.com/weirmq/weir/sdk/goplugin/wire"
)

// Plugins is what one binary serves. Leave a field nil for a point the
// binary does not serve; at least one of Partitioner, Assignor and
// CompactionFilter must be set.
type Plugins struct {
	Partitioner      sdk.Partitioner
	Assignor         sdk.Assignor
	CompactionFilter sdk.CompactionFilter

	// Configure, when not nil, is called once after the broker starts the
	// process and before any other call, with the plugin's
	// [plugins.config] table as a JSON object ("{}" when there is none).
	// An error stops the plugin from loading: the broker reports it, with
	// the plugin's name, as the reason it could not start the plugin.
	Configure func(ctx context.Context, config json.RawMessage) error
}

// stderr is the process's standard error as it was before Serve started:
// go-plugin redirects os.Stderr to a stream to the broker, while log lines
// in hclog's JSON format must go to the real one to keep their level.
var stderr io.Writer = os.Stderr

// Serve serves p to the broker that started this process and returns only
// when the broker stops it; then (or if p is empty, or the process was not
// started by a Weir broker) it exits the process. Call it from main.
func Serve(p Plugins) {
	points := p.points()
	if len(points) == 0 {
		fmt.Fprintln(os.Stderr, "goplugin: Serve: Plugins sets none of Partitioner, Assignor and CompactionFilter; nothing to serve")
		os.Exit(1)
	}
	s := &server{p: p, points: points}
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: wire.Handshake,
		Plugins:         plugin.PluginSet{wire.PluginSetName: &grpcPlugin{s: s}},
		GRPCServer: func(opts []grpc.ServerOption) *grpc.Server {
			opts = append(opts, grpc.MaxRecvMsgSize(wire.MaxMessageSize), grpc.MaxSendMsgSize(wire.MaxMessageSize))
			return grpc.NewServer(opts...)
		},
		Logger: hclog.New(&hclog.LoggerOptions{
			Name: "goplugin", Level: hclog.Info, Output: stderr, JSONFormat: true,
		}),
	})
	os.Exit(0)
}

// Logger returns a logger whose lines the broker re-logs under the
// plugin's name, at their level. It is safe for concurrent use.
func Logger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{
		Level: slog.LevelDebug,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) > 0 {
				return a
			}
			// go-plugin's host parses hclog's JSON keys.
			switch a.Key {
			case slog.TimeKey:
				return slog.String("@timestamp", a.Value.Time().Format("2006-01-02T15:04:05.000000Z07:00"))
			case slog.LevelKey:
				level := "info"
				switch l := a.Value.Any().(slog.Level); {
				case l < slog.LevelInfo:
					level = "debug"
				case l >= slog.LevelError:
					level = "error"
				case l >= slog.LevelWarn:
					level = "warn"
				}
				return slog.String("@level", level)
			case slog.MessageKey:
				return slog.String("@message", a.Value.String())
			}
			return a
		},
	}))
}

func (p Plugins) points() []wire.Point {
	var points []wire.Point
	if p.Partitioner != nil {
		points = append(points, wire.Point{Kind: wire.KindPartitioner, Name: p.Partitioner.Name()})
	}
	if p.CompactionFilter != nil {
		points = append(points, wire.Point{Kind: wire.KindCompactionFilter, Name: p.CompactionFilter.Name()})
	}
	if p.Assignor != nil {
		points = append(points, wire.Point{Kind: wire.KindAssignor, Name: p.Assignor.Name()})
	}
	return points
}

// grpcPlugin plugs the service into go-plugin's gRPC server.
type grpcPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	s *server
}

func (g *grpcPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	wire.RegisterServer(s, g.s.handle)
	return nil
}

func (g *grpcPlugin) GRPCClient(context.Context, *plugin.GRPCBroker, *grpc.ClientConn) (any, error) {
	return nil, errors.New("goplugin: the guest side has no client")
}

// server answers the broker's calls with the implementations in p.
type server struct {
	p      Plugins
	points []wire.Point
}

func (s *server) handle(ctx context.Context, m wire.Method, req []byte) (reply []byte) {
	defer func() {
		if r := recover(); r != nil {
			Logger().Error("plugin panicked", "method", string(m), "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			reply = wire.Failed(fmt.Errorf("%s panicked: %v", m, r))
		}
	}()
	switch m {
	case wire.Describe:
		return wire.EncodeDescription(wire.OK(), s.points)
	case wire.Configure:
		if s.p.Configure == nil {
			return wire.OK()
		}
		if err := s.p.Configure(ctx, json.RawMessage(req)); err != nil {
			return wire.Failed(err)
		}
		return wire.OK()
	case wire.Partition:
		return s.partition(ctx, req)
	case wire.Filter:
		return s.filter(ctx, req)
	case wire.Assign:
		return s.assign(ctx, req)
	}
	return wire.Failed(fmt.Errorf("unknown method %q", m))
}

func (s *server) partition(ctx context.Context, req []byte) []byte {
	if s.p.Partitioner == nil {
		return wire.Failed(errors.New("this plugin serves no partitioner"))
	}
	in, err := wire.DecodePartitionRequest(req)
	if err != nil {
		return wire.Failed(err)
	}
	out := make([]int32, len(in.Keys))
	if err := s.p.Partitioner.Partition(ctx, in, out); err != nil {
		return replyErr(err)
	}
	return wire.EncodePartitions(make([]byte, 1, 1+2*len(out)), out) // status byte 0: OK
}

func (s *server) filter(ctx context.Context, req []byte) []byte {
	if s.p.CompactionFilter == nil {
		return wire.Failed(errors.New("this plugin serves no compaction filter"))
	}
	in, err := wire.DecodeFilterRequest(req)
	if err != nil {
		return wire.Failed(err)
	}
	out := make([]sdk.FilterDecision, len(in.Records))
	if err := s.p.CompactionFilter.Filter(ctx, in, out); err != nil {
		return replyErr(err)
	}
	return wire.EncodeDecisions(wire.OK(), out)
}

func (s *server) assign(ctx context.Context, req []byte) []byte {
	if s.p.Assignor == nil {
		return wire.Failed(errors.New("this plugin serves no assignor"))
	}
	in, err := wire.DecodeAssignInput(req)
	if err != nil {
		return wire.Failed(err)
	}
	a, err := s.p.Assignor.Assign(ctx, in)
	if err != nil {
		return replyErr(err)
	}
	return wire.EncodeAssignment(wire.OK(), a)
}

func replyErr(err error) []byte {
	if errors.Is(err, sdk.ErrDecline) {
		return wire.Declined()
	}
	return wire.Failed(err)
}

package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// Config is the network side of the broker.
type Config struct {
	// Addr is the Kafka listener, host:port (port 0 picks one).
	Addr string
	// MaxRequestBytes is socket.request.max.bytes: a frame larger than this
	// closes the connection before anything is allocated for it.
	MaxRequestBytes int32
	// MaxConnections is max.connections; further connections are closed at
	// once. 0 means no limit.
	MaxConnections int
	// IdleTimeout is connections.max.idle.ms: a connection with no request
	// for this long is closed. 0 means never.
	IdleTimeout time.Duration
	Logger      *slog.Logger
}

// handler serves one API. It returns the response to send: a kmsg.Response
// encoded generically, a *fetchRespWire written zero-copy, or nil for no
// response at all (acks=0 produce).
type handler func(ctx context.Context, rc *requestContext, req kmsg.Request) (any, error)

// api is one entry of the dispatch table: the versions advertised in
// ApiVersions and the handler. Only what is in the table is advertised.
type api struct {
	min, max int16
	serve    handler
}

// requestContext is what a handler knows about the request besides its
// body.
type requestContext struct {
	conn          *conn
	key, version  int16
	correlationID int32
	clientID      string
}

// Server is the Kafka protocol listener: a goroutine per connection,
// requests read, dispatched and answered one at a time per connection (as
// Kafka does: a connection is muted while its request is processed), so
// pipelined requests are answered in order.
//
// A Server is safe for concurrent use. It must be created with Listen and
// closed with Close.
type Server struct {
	cfg    Config
	logger *slog.Logger
	apis   map[int16]api

	ln     net.Listener
	ctx    context.Context // cancelled by Close: long polls end early
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu struct {
		sync.Mutex
		conns  map[*conn]struct{}
		closed bool
	}
	metrics serverMetrics
}

// serverMetrics receives what the listener measures. The HTTP listener's
// Prometheus registry implements it; nil methods are fine to skip.
type serverMetrics interface {
	request(key int16, d time.Duration)
	connections(delta int)
	bytesIn(n int)
	bytesOut(n, sendfile int64)
}

type noMetrics struct{}

func (noMetrics) request(int16, time.Duration) {}
func (noMetrics) connections(int)              {}
func (noMetrics) bytesIn(int)                  {}
func (noMetrics) bytesOut(int64, int64)        {}

// listen binds the listener; serving starts with serve.
func listen(cfg Config, apis map[int16]api, m serverMetrics) (*Server, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.MaxRequestBytes <= 0 {
		cfg.MaxRequestBytes = 100 << 20
	}
	if m == nil {
		m = noMetrics{}
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("kafka listener %s: %w", cfg.Addr, err)
	}
	s := &Server{cfg: cfg, logger: cfg.Logger, apis: apis, ln: ln, metrics: m}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.mu.conns = make(map[*conn]struct{})
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.acceptLoop()
	}()
	return s, nil
}

// Addr returns the address the listener is bound to.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

func (s *Server) acceptLoop() {
	var backoff time.Duration
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: back off, keep serving.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.logger.Warn("accept failed", "err", err, "retry_in", backoff)
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		c := &conn{srv: s, nc: nc, ctx: s.ctx}
		s.mu.Lock()
		if s.mu.closed || (s.cfg.MaxConnections > 0 && len(s.mu.conns) >= s.cfg.MaxConnections) {
			full := !s.mu.closed
			s.mu.Unlock()
			if full {
				s.logger.Warn("connection limit reached; closing new connection", "remote", nc.RemoteAddr(), "max_connections", s.cfg.MaxConnections)
			}
			nc.Close()
			continue
		}
		s.mu.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		s.metrics.connections(1)
		go func() {
			defer s.wg.Done()
			c.serve()
			s.mu.Lock()
			delete(s.mu.conns, c)
			s.mu.Unlock()
			s.metrics.connections(-1)
		}()
	}
}

// Close stops accepting connections, lets each connection finish the
// request it is processing (long polls are cut short), closes them, and
// waits for every goroutine.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.mu.closed {
		s.mu.Unlock()
		return nil
	}
	s.mu.closed = true
	conns := make([]*conn, 0, len(s.mu.conns))
	for c := range s.mu.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	err := s.ln.Close()
	s.cancel()
	for _, c := range conns {
		c.stop()
	}
	s.wg.Wait()
	return err
}

func (s *Server) closing() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mu.closed
}

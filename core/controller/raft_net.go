package controller

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// The controller listener carries two protocols, told apart by the first
// byte a client sends on a new connection:
//
//	connRaft ('R')  hashicorp/raft's NetworkTransport (msgpack RPCs)
//	connRPC  ('W')  Weir's controller RPC: frames of a uint32 big-endian
//	                length and a JSON body; the client sends an rpcRequest,
//	                the server answers with an rpcResponse, and so on in
//	                turn on the same connection.
//
// Any other first byte closes the connection.
const (
	connRaft byte = 'R'
	connRPC  byte = 'W'

	// maxRPCFrame bounds what one RPC frame may make a peer allocate:
	// a command as large as the metadata log allows, and some.
	maxRPCFrame = maxRecordBytes + 1<<20
	// firstByteTimeout bounds how long a new connection may take to say
	// which protocol it speaks.
	firstByteTimeout = 10 * time.Second
)

// mux accepts connections on the controller listener and hands each to
// the Raft transport or the RPC server. It owns the listener and every
// accepted connection, and closes them on close.
type mux struct {
	ln        net.Listener
	advertise net.Addr // what Raft calls this node: its advertised address
	logger    *slog.Logger
	serveRPC  func(conn net.Conn)
	dial      func(ctx context.Context, network, addr string) (net.Conn, error)

	raftConns chan net.Conn
	done      chan struct{}
	wg        sync.WaitGroup
	mu        struct {
		sync.Mutex
		conns  map[net.Conn]struct{}
		closed bool
	}
}

func newMux(ln net.Listener, advertise string, dial func(ctx context.Context, network, addr string) (net.Conn, error), logger *slog.Logger) *mux {
	m := &mux{
		ln: ln, advertise: advertAddr(advertise), logger: logger, dial: dial,
		raftConns: make(chan net.Conn), done: make(chan struct{}),
	}
	m.mu.conns = make(map[net.Conn]struct{})
	return m
}

// start runs the accept loop; serveRPC serves one RPC connection until it
// ends.
func (m *mux) start(serveRPC func(conn net.Conn)) {
	m.serveRPC = serveRPC
	m.wg.Add(1)
	go m.acceptLoop()
}

func (m *mux) acceptLoop() {
	defer m.wg.Done()
	delay := time.Duration(0)
	for {
		conn, err := m.ln.Accept()
		if err != nil {
			select {
			case <-m.done:
				return
			default:
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// A temporary failure (out of file descriptors): back off.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			m.logger.Warn("controller: accept failed", "addr", m.ln.Addr().String(), "error", err)
			select {
			case <-m.done:
				return
			case <-time.After(delay):
			}
			continue
		}
		delay = 0
		if !m.track(conn) {
			conn.Close()
			return
		}
		m.wg.Add(1)
		go m.route(conn)
	}
}

// track records conn as open; false after close.
func (m *mux) track(conn net.Conn) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.mu.closed {
		return false
	}
	m.mu.conns[conn] = struct{}{}
	return true
}

func (m *mux) untrack(conn net.Conn) {
	m.mu.Lock()
	delete(m.mu.conns, conn)
	m.mu.Unlock()
}

// route reads the first byte of conn and hands it on.
func (m *mux) route(conn net.Conn) {
	defer m.wg.Done()
	var first [1]byte
	conn.SetReadDeadline(time.Now().Add(firstByteTimeout))
	if _, err := io.ReadFull(conn, first[:]); err != nil {
		m.untrack(conn)
		conn.Close()
		return
	}
	conn.SetReadDeadline(time.Time{})
	switch first[0] {
	case connRaft:
		// Raft's transport serves it until it closes; the mux still
		// closes it on close, which ends the transport's handler.
		select {
		case m.raftConns <- &trackedConn{Conn: conn, m: m}:
		case <-m.done:
			m.untrack(conn)
			conn.Close()
		}
	case connRPC:
		m.serveRPC(conn)
		m.untrack(conn)
		conn.Close()
	default:
		m.logger.Warn("controller: closing a connection that speaks neither Raft nor the controller RPC",
			"remote", conn.RemoteAddr().String(), "first_byte", first[0])
		m.untrack(conn)
		conn.Close()
	}
}

// trackedConn forgets itself in the mux when closed.
type trackedConn struct {
	net.Conn
	m    *mux
	once sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() { c.m.untrack(c.Conn) })
	return c.Conn.Close()
}

// close stops accepting, closes every accepted connection and waits for
// the mux's goroutines. The RPC handlers must return once their
// connections close.
func (m *mux) close() error {
	m.mu.Lock()
	if m.mu.closed {
		m.mu.Unlock()
		return nil
	}
	m.mu.closed = true
	close(m.done)
	err := m.ln.Close()
	for c := range m.mu.conns {
		c.Close()
	}
	m.mu.Unlock()
	m.wg.Wait()
	return err
}

// streamLayer is hashicorp/raft's StreamLayer over the mux: Accept gives
// the connections that start with connRaft, Dial opens one.
type streamLayer struct {
	m         *mux
	closeOnce sync.Once
	closed    chan struct{}
}

func newStreamLayer(m *mux) *streamLayer { return &streamLayer{m: m, closed: make(chan struct{})} }

// Accept returns the next Raft connection.
func (s *streamLayer) Accept() (net.Conn, error) {
	select {
	case c := <-s.m.raftConns:
		return c, nil
	case <-s.closed:
		return nil, net.ErrClosed
	case <-s.m.done:
		return nil, net.ErrClosed
	}
}

// Close stops Accept; the listener itself is the mux's.
func (s *streamLayer) Close() error {
	s.closeOnce.Do(func() { close(s.closed) })
	return nil
}

// Addr returns this node's advertised controller address, which Raft
// gives its peers.
func (s *streamLayer) Addr() net.Addr { return s.m.advertise }

// Dial opens a Raft connection to address.
func (s *streamLayer) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	conn, err := s.m.dial(ctx, "tcp", string(address))
	if err != nil {
		return nil, err
	}
	conn.SetWriteDeadline(time.Now().Add(timeout))
	if _, err := conn.Write([]byte{connRaft}); err != nil {
		conn.Close()
		return nil, err
	}
	conn.SetWriteDeadline(time.Time{})
	return conn, nil
}

// advertAddr is a net.Addr that is just an address string.
type advertAddr string

func (a advertAddr) Network() string { return "tcp" }
func (a advertAddr) String() string  { return string(a) }

// RPC messages.

const (
	opSubmit    = "submit"
	opHeartbeat = "heartbeat"
	opJoin      = "join"
	opSync      = "sync"
)

type rpcRequest struct {
	Op        string `json:"op"`
	TimeoutMs int64  `json:"timeout_ms,omitempty"`
	// submit
	Command   json.RawMessage `json:"command,omitempty"` // MarshalCommand's bytes
	RequestID []byte          `json:"request_id,omitempty"`
	// heartbeat
	BrokerID    int32 `json:"broker_id,omitempty"`
	BrokerEpoch int64 `json:"broker_epoch,omitempty"`
	// join
	NodeID int32  `json:"node_id,omitempty"`
	Addr   string `json:"addr,omitempty"`
}

type rpcResponse struct {
	// NotLeader: this node is not the active controller; LeaderAddr is
	// the one it knows of ("" for none).
	NotLeader  bool       `json:"not_leader,omitempty"`
	LeaderAddr string     `json:"leader_addr,omitempty"`
	Result     wireResult `json:"result"`
}

// writeFrame writes v as one RPC frame.
func writeFrame(w *bufio.Writer, v any) error {
	body, err := marshal(v)
	if err != nil {
		return err
	}
	if len(body) > maxRPCFrame {
		return fmt.Errorf("controller RPC: a frame of %d bytes is over the limit of %d", len(body), maxRPCFrame)
	}
	var hdr [4]byte
	binary.BigEndian.PutUint32(hdr[:], uint32(len(body)))
	if _, err := w.Write(hdr[:]); err != nil {
		return err
	}
	if _, err := w.Write(body); err != nil {
		return err
	}
	return w.Flush()
}

// readFrame reads one RPC frame into v. A frame over maxRPCFrame is an
// error before anything is allocated for it.
func readFrame(r *bufio.Reader, v any) error {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > maxRPCFrame {
		return fmt.Errorf("controller RPC: a frame of %d bytes is over the limit of %d", n, maxRPCFrame)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return err
	}
	return unmarshalStrict(body, v)
}

// rpcClient sends requests to other nodes' controller listeners, keeping
// one idle connection per address for the next request.
type rpcClient struct {
	dial func(ctx context.Context, network, addr string) (net.Conn, error)
	mu   struct {
		sync.Mutex
		idle   map[string]*rpcConn
		closed bool
	}
}

type rpcConn struct {
	conn net.Conn
	r    *bufio.Reader
	w    *bufio.Writer
}

func newRPCClient(dial func(ctx context.Context, network, addr string) (net.Conn, error)) *rpcClient {
	c := &rpcClient{dial: dial}
	c.mu.idle = make(map[string]*rpcConn)
	return c
}

// call sends req to addr and returns the answer. ctx bounds the whole
// call. An error means no answer: the request may or may not have been
// acted upon.
func (c *rpcClient) call(ctx context.Context, addr string, req rpcRequest) (rpcResponse, error) {
	var resp rpcResponse
	conn, err := c.get(ctx, addr)
	if err != nil {
		return resp, err
	}
	if dl, ok := ctx.Deadline(); ok {
		req.TimeoutMs = max(1, time.Until(dl).Milliseconds())
		conn.conn.SetDeadline(dl)
	} else {
		conn.conn.SetDeadline(time.Time{})
	}
	// Unblock the exchange when ctx ends without a deadline (cancel).
	stop := context.AfterFunc(ctx, func() { conn.conn.SetDeadline(time.Unix(1, 0)) })
	err = writeFrame(conn.w, req)
	if err == nil {
		err = readFrame(conn.r, &resp)
	}
	fired := !stop()
	switch {
	case err != nil:
		conn.conn.Close()
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return rpcResponse{}, fmt.Errorf("controller RPC to %s: %w", addr, err)
	case fired:
		conn.conn.Close() // its deadline is spent
	default:
		c.put(addr, conn)
	}
	return resp, nil
}

// get returns an idle connection to addr or dials one.
func (c *rpcClient) get(ctx context.Context, addr string) (*rpcConn, error) {
	c.mu.Lock()
	if c.mu.closed {
		c.mu.Unlock()
		return nil, ErrClosed
	}
	if conn, ok := c.mu.idle[addr]; ok {
		delete(c.mu.idle, addr)
		c.mu.Unlock()
		return conn, nil
	}
	c.mu.Unlock()
	conn, err := c.dial(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	rc := &rpcConn{conn: conn, r: bufio.NewReader(conn), w: bufio.NewWriter(conn)}
	if err := rc.w.WriteByte(connRPC); err != nil {
		conn.Close()
		return nil, err
	}
	return rc, nil
}

// put keeps conn as addr's idle connection, or closes it.
func (c *rpcClient) put(addr string, conn *rpcConn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.mu.idle[addr]; ok || c.mu.closed {
		conn.conn.Close()
		return
	}
	c.mu.idle[addr] = conn
}

// close closes the idle connections; later calls fail with ErrClosed.
func (c *rpcClient) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.mu.closed = true
	for addr, conn := range c.mu.idle {
		conn.conn.Close()
		delete(c.mu.idle, addr)
	}
}

// serveRPCConn answers the requests on one RPC connection with handle
// until the connection fails or closes.
func serveRPCConn(conn net.Conn, handle func(ctx context.Context, req rpcRequest) rpcResponse) {
	r, w := bufio.NewReader(conn), bufio.NewWriter(conn)
	for {
		var req rpcRequest
		if err := readFrame(r, &req); err != nil {
			return
		}
		timeout := time.Duration(req.TimeoutMs) * time.Millisecond
		if timeout <= 0 || timeout > maxRPCTimeout {
			timeout = maxRPCTimeout
		}
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		resp := handle(ctx, req)
		cancel()
		if err := writeFrame(w, resp); err != nil {
			return
		}
	}
}

// maxRPCTimeout bounds how long the server works on one request.
const maxRPCTimeout = 30 * time.Second

package chaos

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// proxyDialTimeout bounds the proxy's dial to its target. A target that is
// down refuses at once; one that is stopped (SIGSTOP) still has its
// listener's backlog and accepts.
const proxyDialTimeout = 5 * time.Second

// Proxy forwards every TCP connection made to its address to one target
// address, byte for byte, until it is cut.
//
// While cut, a Proxy drops the connections it was forwarding (both sides
// get a reset) and holds every new connection silent: it accepts it (the
// kernel completes the handshake anyway) and neither reads from it, nor
// writes to it, nor connects it onward. Holding is chosen over refusing
// because it is what a peer behind a network partition looks like: a dial
// or request that never gets an answer and must time out. A refused
// connection would be an instant, unambiguous failure, which is what a
// crashed process looks like — the kill faults cover that case already.
// Heal closes the held connections (their bytes were lost in the
// partition; the dialer sees the close and dials again) and forwards new
// ones again.
//
// A Proxy is safe for concurrent use. It must be created with NewProxy and
// closed with Close, which waits for all its goroutines.
type Proxy struct {
	name   string
	target string
	ln     net.Listener
	wg     sync.WaitGroup

	accepted atomic.Int64 // connections accepted, forwarded or held
	dropped  atomic.Int64 // forwarded connections closed by Cut
	heldN    atomic.Int64 // connections held while cut

	mu struct {
		sync.Mutex
		cut    bool
		gen    uint64 // incremented by every Cut; a connection dialled across one is dropped
		closed bool
		conns  map[*proxyConn]struct{}
		held   map[net.Conn]struct{}
	}
}

// proxyConn is one forwarded connection: the accepted client side and the
// dialled server side.
type proxyConn struct {
	client, server net.Conn
	once           sync.Once
}

// reset closes both sides with a TCP reset, as a cut does.
func (pc *proxyConn) reset() {
	pc.once.Do(func() {
		resetConn(pc.client)
		resetConn(pc.server)
	})
}

// close closes both sides in an orderly way, as when one side hung up.
func (pc *proxyConn) close() {
	pc.once.Do(func() {
		_ = pc.client.Close()
		_ = pc.server.Close()
	})
}

// resetConn closes c so that its peer sees a reset (SO_LINGER 0).
func resetConn(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}

// NewProxy starts a proxy named name (used in errors and reports)
// listening on a free loopback port and forwarding to target. It returns
// an error if it cannot listen.
func NewProxy(name, target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{name: name, target: target, ln: ln}
	p.mu.conns = map[*proxyConn]struct{}{}
	p.mu.held = map[net.Conn]struct{}{}
	p.wg.Add(1)
	go p.acceptLoop()
	return p, nil
}

// Name returns the name given to NewProxy.
func (p *Proxy) Name() string { return p.name }

// Addr returns the address the proxy listens on, "127.0.0.1:port".
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Target returns the address the proxy forwards to.
func (p *Proxy) Target() string { return p.target }

// ProxyStats counts what a Proxy has done since it started.
type ProxyStats struct {
	Accepted int64 // connections accepted
	Dropped  int64 // forwarded connections reset by Cut
	Held     int64 // connections accepted while cut and held silent
	Open     int   // connections being forwarded now
}

// Stats returns the proxy's counters.
func (p *Proxy) Stats() ProxyStats {
	p.mu.Lock()
	open := len(p.mu.conns)
	p.mu.Unlock()
	return ProxyStats{Accepted: p.accepted.Load(), Dropped: p.dropped.Load(), Held: p.heldN.Load(), Open: open}
}

// IsCut reports whether the proxy is cut.
func (p *Proxy) IsCut() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mu.cut
}

// Cut resets every connection being forwarded and holds new ones silent
// until Heal. Cutting a cut proxy does nothing.
func (p *Proxy) Cut() {
	p.mu.Lock()
	if p.mu.cut || p.mu.closed {
		p.mu.Unlock()
		return
	}
	p.mu.cut = true
	p.mu.gen++
	conns := p.mu.conns
	p.mu.conns = map[*proxyConn]struct{}{}
	p.mu.Unlock()
	for pc := range conns {
		p.dropped.Add(1)
		pc.reset()
	}
}

// Heal closes the connections held while cut and forwards new connections
// again. Healing a proxy that is not cut does nothing.
func (p *Proxy) Heal() {
	p.mu.Lock()
	if !p.mu.cut {
		p.mu.Unlock()
		return
	}
	p.mu.cut = false
	held := p.mu.held
	p.mu.held = map[net.Conn]struct{}{}
	p.mu.Unlock()
	for c := range held {
		resetConn(c)
	}
}

// Close stops listening, closes every connection and waits for the
// proxy's goroutines. It returns nil; closing twice is allowed.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.mu.closed {
		p.mu.Unlock()
		return nil
	}
	p.mu.closed = true
	conns, held := p.mu.conns, p.mu.held
	p.mu.conns, p.mu.held = nil, nil
	p.mu.Unlock()
	_ = p.ln.Close()
	for pc := range conns {
		pc.reset()
	}
	for c := range held {
		resetConn(c)
	}
	p.wg.Wait()
	return nil
}

func (p *Proxy) acceptLoop() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// A transient accept error (EMFILE, ECONNABORTED): try again
			// shortly rather than spin.
			time.Sleep(10 * time.Millisecond)
			continue
		}
		p.accepted.Add(1)
		p.mu.Lock()
		switch {
		case p.mu.closed:
			p.mu.Unlock()
			resetConn(c)
			continue
		case p.mu.cut:
			p.mu.held[c] = struct{}{}
			p.heldN.Add(1)
			p.mu.Unlock()
			continue
		}
		gen := p.mu.gen
		p.wg.Add(1)
		p.mu.Unlock()
		go p.forward(c, gen)
	}
}

// forward dials the target for client and copies bytes both ways until
// either side ends or the proxy is cut or closed.
func (p *Proxy) forward(client net.Conn, gen uint64) {
	defer p.wg.Done()
	server, err := net.DialTimeout("tcp", p.target, proxyDialTimeout)
	if err != nil {
		// The target is down: the client sees what it would have seen.
		resetConn(client)
		return
	}
	pc := &proxyConn{client: client, server: server}
	p.mu.Lock()
	if p.mu.closed || p.mu.cut || p.mu.gen != gen {
		// Cut (or closed) while dialling: this connection belongs to the
		// time before the cut.
		p.mu.Unlock()
		pc.reset()
		return
	}
	p.mu.conns[pc] = struct{}{}
	p.mu.Unlock()

	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				if _, werr := dst.Write(buf[:n]); werr != nil {
					break
				}
			}
			if err != nil {
				break
			}
		}
		done <- struct{}{}
	}
	go pipe(server, client)
	go pipe(client, server)
	<-done
	// One side ended: end the other, so that neither end waits on a
	// connection whose partner is gone. After a Cut this does nothing.
	pc.close()
	<-done
	p.mu.Lock()
	if p.mu.conns != nil {
		delete(p.mu.conns, pc)
	}
	p.mu.Unlock()
}

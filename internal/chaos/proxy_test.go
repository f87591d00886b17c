package chaos

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// echoServer echoes every line it reads, prefixed with its name, and
// counts the connections it accepted.
type echoServer struct {
	name     string
	ln       net.Listener
	accepted atomic.Int64
	wg       sync.WaitGroup
	mu       sync.Mutex
	conns    []net.Conn
}

func startEcho(t *testing.T, name string) *echoServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e := &echoServer{name: name, ln: ln}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			e.accepted.Add(1)
			e.mu.Lock()
			e.conns = append(e.conns, c)
			e.mu.Unlock()
			e.wg.Add(1)
			go func() {
				defer e.wg.Done()
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					if _, err := io.WriteString(c, e.name+":"+line); err != nil {
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(e.close)
	return e
}

func (e *echoServer) addr() string { return e.ln.Addr().String() }

func (e *echoServer) close() {
	e.ln.Close()
	e.mu.Lock()
	for _, c := range e.conns {
		c.Close()
	}
	e.mu.Unlock()
	e.wg.Wait()
}

// roundTrip writes msg and returns the echoed line, failing after d.
func roundTrip(c net.Conn, msg string, d time.Duration) (string, error) {
	c.SetDeadline(time.Now().Add(d))
	defer c.SetDeadline(time.Time{})
	if _, err := io.WriteString(c, msg+"\n"); err != nil {
		return "", err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSuffix(line, "\n"), err
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// isTimeout reports whether err is a deadline expiry.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() || errors.Is(err, os.ErrDeadlineExceeded)
}

// waitGoroutines waits until the number of goroutines is back to at most
// n, failing after a few seconds.
func waitGoroutines(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > n {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines, want at most %d:\n%s", runtime.NumGoroutine(), n, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestProxyForwardsBothWays(t *testing.T) {
	e := startEcho(t, "e")
	p, err := NewProxy("test", e.addr())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c := dial(t, p.Addr())
	for _, msg := range []string{"hello", strings.Repeat("x", 100000)} {
		got, err := roundTrip(c, msg, 5*time.Second)
		if err != nil || got != "e:"+msg {
			t.Fatalf("round trip of %d bytes: got %d bytes, %v", len(msg), len(got), err)
		}
	}
	if st := p.Stats(); st.Accepted != 1 || st.Open != 1 {
		t.Fatalf("stats %+v, want 1 accepted and open", st)
	}
}

// TestProxyCutResetsHoldsAndHeals: a cut resets the connection being
// forwarded, holds a new one silent (accepted, never forwarded) until
// Heal closes it, and after Heal connections are forwarded again.
func TestProxyCutResetsHoldsAndHeals(t *testing.T) {
	base := runtime.NumGoroutine()
	e := startEcho(t, "e")
	p, err := NewProxy("test", e.addr())
	if err != nil {
		t.Fatal(err)
	}
	before := dial(t, p.Addr())
	if got, err := roundTrip(before, "one", 5*time.Second); err != nil || got != "e:one" {
		t.Fatalf("before the cut: %q %v", got, err)
	}

	p.Cut()
	if !p.IsCut() {
		t.Fatal("IsCut false after Cut")
	}
	before.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := before.Read(make([]byte, 1)); err == nil || isTimeout(err) {
		t.Fatalf("the forwarded connection survived the cut: %v", err)
	}

	held := dial(t, p.Addr()) // the handshake succeeds: the proxy accepts
	if _, err := roundTrip(held, "two", 300*time.Millisecond); !isTimeout(err) {
		t.Fatalf("a connection made while cut was answered (want silence): %v", err)
	}
	if n := e.accepted.Load(); n != 1 {
		t.Fatalf("the target saw %d connections, want 1: a held connection was forwarded", n)
	}
	if st := p.Stats(); st.Held != 1 || st.Dropped != 1 {
		t.Fatalf("stats %+v, want 1 held and 1 dropped", st)
	}

	p.Heal()
	held.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := held.Read(make([]byte, 1)); err == nil || isTimeout(err) {
		t.Fatalf("the held connection was not closed by Heal: %v", err)
	}
	after := dial(t, p.Addr())
	if got, err := roundTrip(after, "three", 5*time.Second); err != nil || got != "e:three" {
		t.Fatalf("after healing: %q %v", got, err)
	}

	p.Close()
	e.close()
	waitGoroutines(t, base)
}

// TestProxyTargetDown: with nothing listening at the target, a client's
// connection is closed, as a refused dial would be.
func TestProxyTargetDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	target := ln.Addr().String()
	ln.Close()
	p, err := NewProxy("down", target)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c, err := net.DialTimeout("tcp", p.Addr(), 2*time.Second)
	if err != nil {
		return // reset so quickly that the handshake saw it: as refused
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil || isTimeout(err) {
		t.Fatalf("connection to a dead target stayed open: %v", err)
	}
}

func TestMeshIsolateCutsExactlyTheLinksOfTheNode(t *testing.T) {
	base := runtime.NumGoroutine()
	var nodes []MeshNode
	servers := map[string]*echoServer{}
	for id := int32(1); id <= 3; id++ {
		k := startEcho(t, "k"+string(rune('0'+id)))
		c := startEcho(t, "c"+string(rune('0'+id)))
		servers[k.addr()], servers[c.addr()] = k, c
		nodes = append(nodes, MeshNode{ID: id, KafkaAddr: k.addr(), ControllerAddr: c.addr()})
	}
	m, err := NewMesh(nodes)
	if err != nil {
		t.Fatal(err)
	}

	// The overrides of node 1 map exactly the other nodes' addresses.
	over := map[string]string{}
	for _, pair := range strings.Split(m.DialOverrides(1), ",") {
		from, to, ok := strings.Cut(pair, "=")
		if !ok {
			t.Fatalf("malformed pair %q", pair)
		}
		over[from] = to
	}
	if len(over) != 4 || over[nodes[0].KafkaAddr] != "" {
		t.Fatalf("overrides of node 1: %v", over)
	}

	// works reports whether from reaches to's listener l through the mesh.
	works := func(from, to int32, l Listener) bool {
		p := m.Proxy(from, to, l)
		c, err := net.DialTimeout("tcp", p.Addr(), time.Second)
		if err != nil {
			return false
		}
		defer c.Close()
		_, err = roundTrip(c, "ping", 150*time.Millisecond)
		return err == nil
	}
	check := func(state string, cut map[[2]int32]bool) {
		t.Helper()
		var wg sync.WaitGroup
		for _, a := range nodes {
			for _, b := range nodes {
				if a.ID == b.ID {
					continue
				}
				for _, l := range []Listener{ListenerKafka, ListenerController} {
					wg.Go(func() {
						want := !cut[pairKey(a.ID, b.ID)]
						if got := works(a.ID, b.ID, l); got != want {
							t.Errorf("%s: %d->%d %s works=%v, want %v", state, a.ID, b.ID, l, got, want)
						}
					})
				}
			}
		}
		wg.Wait()
	}
	check("all healed", nil)
	m.Isolate(1)
	check("1 isolated", map[[2]int32]bool{{1, 2}: true, {1, 3}: true})
	m.Isolate(2)
	m.Heal(1)
	check("2 isolated", map[[2]int32]bool{{1, 2}: true, {2, 3}: true})
	m.HealAll()
	m.CutPair(3, 1)
	check("pair 1-3 cut", map[[2]int32]bool{{1, 3}: true})
	m.HealAll()
	check("healed again", nil)

	m.Close()
	for _, s := range servers {
		s.close()
	}
	waitGoroutines(t, base)
}

func TestMeshRejectsRepeatedIDs(t *testing.T) {
	_, err := NewMesh([]MeshNode{{ID: 1, KafkaAddr: "127.0.0.1:1", ControllerAddr: "127.0.0.1:2"}, {ID: 1}})
	if err == nil || !strings.Contains(err.Error(), "twice") {
		t.Fatalf("repeated ids: %v", err)
	}
}

func TestPickPortsAreDistinctFreeAndOutsideTheEphemeralRange(t *testing.T) {
	a, err := PickPorts(30)
	if err != nil {
		t.Fatal(err)
	}
	b, err := PickPorts(30)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, p := range append(a, b...) {
		if p < 20000 || p >= 32000 {
			t.Errorf("port %d outside [20000, 32000)", p)
		}
		if seen[p] {
			t.Errorf("port %d handed out twice", p)
		}
		seen[p] = true
	}
}

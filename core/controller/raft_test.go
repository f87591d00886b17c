package controller

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/weirmq/weir/core/config"
)

// The Raft tests run real hashicorp/raft nodes on loopback listeners
// (port 0) with data in temp dirs and short Raft timeouts. Set
// WEIR_TEST_LOG=1 to see the nodes' logs.

// testLogger returns a logger for node id: the test's log with
// WEIR_TEST_LOG=1, else nothing.
func testLogger(t testing.TB, id int32) *slog.Logger {
	if os.Getenv("WEIR_TEST_LOG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})).With("node", id)
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

// manualClock is a clock that moves only when told.
type manualClock struct {
	mu sync.Mutex
	t  time.Time
}

func newManualClock() *manualClock { return &manualClock{t: time.Unix(1_000_000, 0)} }

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *manualClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// fastOptions returns options with short Raft timeouts.
func fastOptions(t testing.TB, id int32, voters []config.Voter) RaftOptions {
	return RaftOptions{
		NodeID: id, Voters: voters, Logger: testLogger(t, id), NewID: counterIDsFrom(uint64(id) << 32),
		HeartbeatTimeout: 150 * time.Millisecond, ElectionTimeout: 150 * time.Millisecond,
		LeaderLeaseTimeout: 100 * time.Millisecond, CommitTimeout: 5 * time.Millisecond,
		RPCTimeout: 2 * time.Second, CheckInterval: 10 * time.Millisecond,
	}
}

// counterIDsFrom returns a NewID counting up from base+1.
func counterIDsFrom(base uint64) func() [16]byte {
	var n atomic.Uint64
	n.Store(base)
	return func() [16]byte {
		var id [16]byte
		v := n.Add(1)
		for i := range 8 {
			id[15-i] = byte(v >> (8 * i))
		}
		id[0] = 1
		return id
	}
}

type testNode struct {
	id   int32
	dir  string
	addr string
	opts RaftOptions
	r    *Raft
}

// open opens (or reopens) the node on its address.
func (n *testNode) open(t testing.TB) {
	t.Helper()
	r, err := OpenRaft(n.dir, n.opts)
	if err != nil {
		t.Fatalf("OpenRaft(node %d): %v", n.id, err)
	}
	n.r = r
	if n.addr == "" {
		n.addr = r.AdvertisedAddr()
	}
	n.opts.Listener = nil
	n.opts.BindAddr = r.Addr().String()
	t.Cleanup(func() { r.Close() })
}

// startCluster starts count voters; tune adjusts each node's options.
func startCluster(t testing.TB, count int, tune func(*RaftOptions)) []*testNode {
	t.Helper()
	var voters []config.Voter
	var lns []net.Listener
	for i := range count {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		voters = append(voters, config.Voter{ID: int32(i + 1), Addr: ln.Addr().String()})
	}
	nodes := make([]*testNode, count)
	for i := range count {
		id := int32(i + 1)
		opts := fastOptions(t, id, voters)
		opts.Listener = lns[i]
		if tune != nil {
			tune(&opts)
		}
		nodes[i] = &testNode{id: id, dir: t.TempDir(), addr: voters[i].Addr, opts: opts}
		nodes[i].open(t)
	}
	return nodes
}

// waitFor polls cond until it holds, failing the test after a deadline.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// leader waits until the open nodes agree on one active controller among
// them and returns it.
func leader(t testing.TB, nodes []*testNode) *testNode {
	t.Helper()
	var found *testNode
	waitFor(t, "an active controller", func() bool {
		found = nil
		for _, n := range nodes {
			if n.r == nil {
				continue
			}
			id, ok := n.r.ActiveController()
			if !ok {
				return false
			}
			if found != nil && found.id != id {
				return false
			}
			for _, m := range nodes {
				if m.id == id && m.r != nil {
					found = m
				}
			}
			if found == nil {
				return false
			}
		}
		st, _ := found.r.Status()
		return st.State == "Leader" && found.r.active.Load() != nil
	})
	return found
}

// followerOf returns an open node other than l.
func followerOf(nodes []*testNode, l *testNode) *testNode {
	for _, n := range nodes {
		if n != l && n.r != nil {
			return n
		}
	}
	return nil
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func submitR(t testing.TB, r *Raft, cmd Command) Result {
	t.Helper()
	res, err := r.Submit(ctxT(t), cmd)
	if err != nil {
		t.Fatalf("Submit(%#v): %v", cmd, err)
	}
	return res
}

// sameImages waits until every open node's image encodes as want's.
func sameImages(t testing.TB, nodes []*testNode, want *Image) {
	t.Helper()
	wantJSON, _ := want.MarshalJSON()
	for _, n := range nodes {
		if n.r == nil {
			continue
		}
		waitFor(t, "node "+strconv.Itoa(int(n.id))+" to replicate the image", func() bool {
			got, _ := n.r.Image().MarshalJSON()
			return string(got) == string(wantJSON)
		})
	}
}

// registerThree registers brokers 1, 2, 3 and creates topic "t" (two
// partitions on [1 2 3] and [2 3 1]) through r.
func registerThree(t testing.TB, r *Raft) TopicID {
	t.Helper()
	for b := int32(1); b <= 3; b++ {
		submitR(t, r, RegisterBroker{ID: b, Host: "h", Port: 9092 + b})
	}
	tid := r.NewTopicID()
	submitR(t, r, CreateTopic{Name: "t", ID: tid, Partitions: []PartitionAssignment{{Replicas: []int32{1, 2, 3}}, {Replicas: []int32{2, 3, 1}}}})
	return tid
}

func TestRaftSingleVoter(t *testing.T) {
	t.Parallel()
	opts := fastOptions(t, 1, []config.Voter{{ID: 1, Addr: "127.0.0.1:0"}})
	var logs syncBuffer
	opts.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	n := &testNode{id: 1, dir: t.TempDir(), opts: opts}
	n.open(t)
	if n.r.AdvertisedAddr() != n.r.Addr().String() || hasPortZero(n.r.AdvertisedAddr()) {
		t.Errorf("advertised %s, bound %s", n.r.AdvertisedAddr(), n.r.Addr())
	}
	var mu sync.Mutex
	var seen []int64
	n.r.Watch(func(old, new *Image) {
		mu.Lock()
		defer mu.Unlock()
		if old == nil {
			seen = append(seen, -1)
		}
		if old != nil && new.Offset() <= old.Offset() {
			t.Errorf("watch: offset %d after %d", new.Offset(), old.Offset())
		}
		seen = append(seen, new.Offset())
	})
	tid := registerThree(t, n.r)
	img := n.r.Image()
	if img.ClusterID() == "" {
		t.Error("the active controller did not initialise the cluster")
	}
	if tp, ok := img.TopicByID(tid); !ok || tp.Name != "t" {
		t.Fatalf("topic not in the image after Submit: %+v", img.TopicNames())
	}
	if id, ok := n.r.ActiveController(); !ok || id != 1 {
		t.Errorf("ActiveController() = %d, %v", id, ok)
	}
	mu.Lock()
	if len(seen) < 2 || seen[0] != -1 || seen[len(seen)-1] != img.Offset() {
		t.Errorf("watch saw %v, image at %d", seen, img.Offset())
	}
	mu.Unlock()
	st, err := n.r.Status()
	if err != nil {
		t.Fatal(err)
	}
	if st.Leader != 1 || st.State != "Leader" || len(st.Voters) != 1 || st.Voters[0].Addr != n.r.AdvertisedAddr() || st.ImageOffset != img.Offset() || st.AppliedIndex == 0 {
		t.Errorf("status %+v", st)
	}
	// A command that fails comes back with its class and changes nothing.
	_, err = n.r.Submit(ctxT(t), CreateTopic{Name: "t", ID: n.r.NewTopicID(), Partitions: []PartitionAssignment{{Replicas: []int32{1}}}})
	if !errors.Is(err, ErrTopicExists) {
		t.Errorf("duplicate topic: %v", err)
	}
	if n.r.Image() != img {
		t.Error("a failed command changed the image")
	}
	// Raft's own log lines reach the logger, marked as Raft's.
	if out := logs.String(); !strings.Contains(out, "component=raft") || !strings.Contains(out, "active controller") {
		t.Errorf("logs lack Raft's or the controller's lines:\n%s", out)
	}
	if err := n.r.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := n.r.Submit(ctxT(t), AllocateProducerIDs{Count: 1}); !errors.Is(err, ErrClosed) {
		t.Errorf("Submit after Close: %v", err)
	}
	if err := n.r.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestRaftThreeVoters(t *testing.T) {
	t.Parallel()
	var dials atomic.Int64
	nodes := startCluster(t, 3, func(o *RaftOptions) {
		o.Dial = func(ctx context.Context, network, addr string) (net.Conn, error) {
			dials.Add(1)
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		}
	})
	l := leader(t, nodes)
	f := followerOf(nodes, l)

	// Submit from a follower is forwarded, and the follower's image has
	// the command when Submit returns.
	tid := registerThree(t, f.r)
	if _, ok := f.r.Image().TopicByID(tid); !ok {
		t.Fatal("the forwarding follower's image lacks the topic after Submit")
	}
	sameImages(t, nodes, l.r.Image())
	if dials.Load() == 0 {
		t.Error("RaftOptions.Dial was not used")
	}

	// Errors from Apply keep their classes through the RPC.
	_, err := f.r.Submit(ctxT(t), AlterTopicConfigs{TopicID: tid, Set: map[string]string{"retention.msx": "1"}})
	if !errors.Is(err, ErrInvalidConfig) || !errors.Is(err, config.ErrUnknownConfig) {
		t.Errorf("forwarded invalid config: %v", err)
	}
	_, err = f.r.Submit(ctxT(t), DeleteTopic{ID: id(99)})
	if !errors.Is(err, ErrUnknownTopic) {
		t.Errorf("forwarded unknown topic: %v", err)
	}
	// AlterPartition with a stale partition epoch, from a follower.
	b1, _ := l.r.Image().Broker(1)
	alter := AlterPartition{TopicID: tid, Partition: 0, BrokerID: 1, BrokerEpoch: b1.Epoch, ISR: []int32{1, 2}}
	res := submitR(t, f.r, alter)
	if res.PartitionEpoch != 1 || res.LeaderEpoch != 0 {
		t.Errorf("AlterPartition result %+v", res)
	}
	if _, err := f.r.Submit(ctxT(t), alter); !errors.Is(err, ErrInvalidUpdateVersion) {
		t.Errorf("stale AlterPartition: %v", err)
	}
	alter.PartitionEpoch, alter.LeaderEpoch = 1, 5
	if _, err := f.r.Submit(ctxT(t), alter); !errors.Is(err, ErrFencedLeaderEpoch) {
		t.Errorf("AlterPartition with another leader epoch: %v", err)
	}
	// Heartbeats: from a follower, errors keep their classes.
	if err := f.r.Heartbeat(ctxT(t), 1, b1.Epoch); err != nil {
		t.Errorf("heartbeat: %v", err)
	}
	if err := f.r.Heartbeat(ctxT(t), 1, b1.Epoch-1); !errors.Is(err, ErrStaleBrokerEpoch) {
		t.Errorf("stale heartbeat: %v", err)
	}
	if err := f.r.Heartbeat(ctxT(t), 42, 1); !errors.Is(err, ErrUnknownBroker) {
		t.Errorf("unknown broker heartbeat: %v", err)
	}

	// A fourth node joins as a non-voter, advertising an address that
	// differs from the one it binds (a proxy in between).
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	proxy := startProxy(t, ln.Addr().String())
	var voters []config.Voter
	for _, n := range nodes {
		voters = append(voters, config.Voter{ID: n.id, Addr: n.addr})
	}
	o4 := fastOptions(t, 4, voters)
	o4.Listener, o4.AdvertiseAddr = ln, proxy
	n4 := &testNode{id: 4, dir: t.TempDir(), opts: o4}
	n4.open(t)
	if n4.r.AdvertisedAddr() != proxy {
		t.Errorf("advertised %s, want the proxy %s", n4.r.AdvertisedAddr(), proxy)
	}
	all := append(nodes, n4)
	waitFor(t, "node 4 to be a non-voter", func() bool {
		st, err := l.r.Status()
		return err == nil && len(st.NonVoters) == 1 && st.NonVoters[0] == RaftMember{ID: 4, Addr: proxy} && len(st.Voters) == 3
	})
	sameImages(t, all, l.r.Image())
	// A non-voter's Submit is forwarded too.
	submitR(t, n4.r, AllocateProducerIDs{Count: 10})
	sameImages(t, all, l.r.Image())
	if err := n4.r.Sync(ctxT(t)); err != nil {
		t.Errorf("Sync: %v", err)
	}

	// Killing the active controller elects another; the metadata survives.
	before := l.r.Image()
	if err := l.r.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	l.r = nil
	l2 := leader(t, all)
	if l2.id == 4 {
		t.Fatal("the non-voter became the leader")
	}
	if got, _ := l2.r.Image().TopicByID(tid); got.Name != "t" || l2.r.Image().Offset() < before.Offset() {
		t.Fatalf("the new leader lost metadata: offset %d < %d", l2.r.Image().Offset(), before.Offset())
	}
	res = submitR(t, n4.r, AllocateProducerIDs{Count: 10})
	if res.FirstProducerID != 10 {
		t.Errorf("producer IDs after failover start at %d, want 10", res.FirstProducerID)
	}
	// The old leader restarts from its directory and catches up.
	l.opts.Listener = nil
	l.open(t)
	sameImages(t, all, l2.r.Image())
}

// startProxy forwards connections on a new loopback port to target until
// the test ends, and returns its address.
func startProxy(t testing.TB, target string) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				in.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, in, out)
			mu.Unlock()
			wg.Add(2)
			go func() { defer wg.Done(); io.Copy(out, in); out.Close() }()
			go func() { defer wg.Done(); io.Copy(in, out); in.Close() }()
		}
	}()
	return ln.Addr().String()
}

func TestRaftRestartFromSnapshot(t *testing.T) {
	t.Parallel()
	nodes := startCluster(t, 1, func(o *RaftOptions) {
		o.SnapshotThreshold, o.SnapshotInterval, o.TrailingLogs = 4, 20*time.Millisecond, 2
	})
	n := nodes[0]
	leader(t, nodes)
	tid := registerThree(t, n.r)
	for range 20 {
		submitR(t, n.r, AllocateProducerIDs{Count: 3})
	}
	waitFor(t, "a snapshot", func() bool {
		snaps, _ := filepath.Glob(filepath.Join(n.dir, "snapshots", "*", "state.bin"))
		return len(snaps) > 0
	})
	// Some commands after the snapshot, replayed from the log.
	submitR(t, n.r, AlterTopicConfigs{TopicID: tid, Set: map[string]string{"retention.ms": "1000"}})
	want := n.r.Image()
	if err := n.r.Close(); err != nil {
		t.Fatal(err)
	}
	n.open(t)
	sameImages(t, nodes, want)
	if first, err := n.r.store.FirstIndex(); err != nil || first <= 1 {
		t.Errorf("the Raft log starts at %d (%v): it was not compacted, so the image did not come from the snapshot", first, err)
	}
	if n.r.Image().NextProducerID() != 60 {
		t.Errorf("next producer ID %d after restart", n.r.Image().NextProducerID())
	}
	leader(t, nodes)
	res := submitR(t, n.r, AllocateProducerIDs{Count: 1})
	if res.FirstProducerID != 60 {
		t.Errorf("allocated %d after restart, want 60", res.FirstProducerID)
	}
}

func TestRaftDuplicateRequest(t *testing.T) {
	t.Parallel()
	nodes := startCluster(t, 1, nil)
	n := nodes[0]
	leader(t, nodes)
	data, _ := MarshalCommand(AllocateProducerIDs{Count: 5})
	reqID := make([]byte, 16)
	reqID[0] = 7
	first, retry := n.r.applyLocal(ctxT(t), data, reqID)
	if retry || first.Error != nil {
		t.Fatalf("first apply: %+v retry %v", first, retry)
	}
	offset := n.r.Image().Offset()
	again, retry := n.r.applyLocal(ctxT(t), data, reqID)
	if retry || !reflect.DeepEqual(again, first) || n.r.Image().Offset() != offset {
		t.Errorf("a repeated request applied again: %+v then %+v, offset %d then %d", first, again, offset, n.r.Image().Offset())
	}
	// The window survives a snapshot.
	snap, err := n.r.fsm.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	enc, err := snap.(*fsmSnapshot).encode()
	if err != nil {
		t.Fatal(err)
	}
	f2 := newFSM(slog.New(slog.DiscardHandler))
	if err := f2.Restore(io.NopCloser(bytes.NewReader(enc))); err != nil {
		t.Fatal(err)
	}
	var key [16]byte
	copy(key[:], reqID)
	if w, ok := f2.recent[key]; !ok || !reflect.DeepEqual(w, first) {
		t.Errorf("restored window: %+v, %v", w, ok)
	}
	// A corrupt snapshot is refused, and the state stays.
	for _, bad := range [][]byte{nil, enc[:len(enc)-1], append([]byte{0, 0, 0, 2}, enc...)} {
		if err := f2.Restore(io.NopCloser(bytes.NewReader(bad))); err == nil {
			t.Errorf("corrupt snapshot of %d bytes restored", len(bad))
		}
	}
	if f2.image.Load().Offset() != offset {
		t.Error("a refused snapshot changed the state")
	}
}

func TestRaftConnections(t *testing.T) {
	t.Parallel()
	nodes := startCluster(t, 1, nil)
	addr := nodes[0].addr
	leader(t, nodes)
	// A connection speaking neither protocol is closed.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte("GET / HTTP/1.1\r\n\r\n"))
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); !closedByPeer(err) {
		t.Errorf("read after a foreign first byte: %v, want the connection closed", err)
	}
	c.Close()
	// An RPC frame over the limit closes the connection, allocating
	// nothing for it.
	c, err = net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte{connRPC, 0xff, 0xff, 0xff, 0xff})
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); !closedByPeer(err) {
		t.Errorf("read after an oversized frame: %v, want the connection closed", err)
	}
	c.Close()
	// A malformed request body closes the connection too.
	c, err = net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.Write([]byte{connRPC, 0, 0, 0, 3, '{', '}', '}'})
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); !closedByPeer(err) {
		t.Errorf("read after a malformed frame: %v, want the connection closed", err)
	}
	c.Close()
	// The node still works.
	submitR(t, nodes[0].r, AllocateProducerIDs{Count: 1})
}

// closedByPeer reports whether a read error says the peer closed the
// connection.
func closedByPeer(err error) bool {
	return err == io.EOF || errors.Is(err, syscall.ECONNRESET)
}

func TestOpenRaftErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		opts RaftOptions
	}{
		{"no voters", RaftOptions{NodeID: 1}},
		{"duplicate voter", RaftOptions{NodeID: 1, Voters: []config.Voter{{ID: 1, Addr: "127.0.0.1:0"}, {ID: 1, Addr: "127.0.0.1:1"}}}},
		{"voter without address", RaftOptions{NodeID: 1, Voters: []config.Voter{{ID: 1}}}},
		{"non-voter without address", RaftOptions{NodeID: 2, Voters: []config.Voter{{ID: 1, Addr: "127.0.0.1:1"}}}},
		{"bad bind address", RaftOptions{NodeID: 1, Voters: []config.Voter{{ID: 1, Addr: "256.0.0.1:99999"}}}},
	} {
		if r, err := OpenRaft(t.TempDir(), tc.opts); err == nil {
			r.Close()
			t.Errorf("%s: OpenRaft succeeded", tc.name)
		}
	}
}

// Raft and Local both serve what core/server's broker needs of its
// metadata store.
var _ = []interface {
	Image() *Image
	Submit(ctx context.Context, cmd Command) (Result, error)
	Watch(fn func(old, new *Image))
	NewTopicID() TopicID
	Close() error
}{(*Raft)(nil), (*Local)(nil)}

func TestRaftRefusesAnAddressOthersCannotDial(t *testing.T) {
	_, err := OpenRaft(t.TempDir(), RaftOptions{NodeID: 4, Voters: []config.Voter{{ID: 1, Addr: "127.0.0.1:1"}}, BindAddr: "127.0.0.1:0", AdvertiseAddr: "0.0.0.0:9093"})
	if err == nil || !strings.Contains(err.Error(), "cannot dial") {
		t.Fatalf("a non-voter advertising 0.0.0.0: %v", err)
	}
}

package controller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"

	"github.com/weirmq/weir/core/config"
)

// RaftDBFileName is the file of the Raft log and stable store (bbolt) in
// a Raft controller's directory; snapshots go to its snapshots/.
const RaftDBFileName = "raft.db"

// RaftOptions configure OpenRaft. Zero durations take the defaults named
// on each field.
type RaftOptions struct {
	// NodeID is this node's node_id: its Raft server ID and broker ID.
	NodeID int32
	// Voters is the controller quorum (config.Cluster.Voters): 1, 3 or 5
	// nodes, the same list on every node. A voter's entry is its
	// advertised controller address. A voter whose entry has port 0
	// advertises the address it bound (a single-node quorum in tests).
	Voters []config.Voter
	// Listener, when set, is the controller listener to serve: OpenRaft
	// takes it over (Close, or a failing OpenRaft, closes it). Otherwise
	// OpenRaft listens on BindAddr.
	Listener net.Listener
	// BindAddr is the address to listen on, "host:port" (port 0 picks a
	// free one); "" means the advertised address.
	BindAddr string
	// AdvertiseAddr is the controller address other nodes reach a
	// non-voter at; "" means the bound address. Voters advertise their
	// Voters entry.
	AdvertiseAddr string
	// Dial opens every outgoing connection (Raft and the controller RPC);
	// nil uses a net.Dialer.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Logger receives Raft's and the controller's logs; nil discards.
	Logger *slog.Logger
	// NewID returns fresh 16-byte IDs for the cluster ID and NewTopicID;
	// nil uses random version-4 UUIDs. (Request IDs are always random.)
	NewID func() [16]byte

	// BrokerSessionTimeout is broker.session.timeout.ms: a broker whose
	// last heartbeat is older is fenced (default 9 s).
	BrokerSessionTimeout time.Duration
	// AutoLeaderRebalance is auto.leader.rebalance.enable: every
	// LeaderImbalanceCheckInterval (default 300 s), partitions whose
	// preferred replica is live and in the ISR but does not lead get it
	// back as leader.
	AutoLeaderRebalance          bool
	LeaderImbalanceCheckInterval time.Duration
	// UncleanLeaderElection is the static unclean.leader.election.enable:
	// the default of topics that set neither an override nor a dynamic
	// broker config (the image's rules cover those). With it, the active
	// controller elects leaderless partitions uncleanly.
	UncleanLeaderElection bool
	// CheckInterval is how often the active controller checks broker
	// sessions, leaderless partitions and the rebalance timer (default
	// BrokerSessionTimeout/8, within 10 ms to 1 s).
	CheckInterval time.Duration
	// Now is the active controller's clock for sessions and the
	// rebalance timer; nil uses time.Now. Tests pass a manual one.
	Now func() time.Time

	// Raft timings (hashicorp/raft's Config): HeartbeatTimeout and
	// ElectionTimeout (default 1 s; ElectionTimeout ≥ HeartbeatTimeout),
	// LeaderLeaseTimeout (default 500 ms, at most HeartbeatTimeout),
	// CommitTimeout (default 50 ms). Tests use 100–300 ms.
	HeartbeatTimeout   time.Duration
	ElectionTimeout    time.Duration
	LeaderLeaseTimeout time.Duration
	CommitTimeout      time.Duration
	// SnapshotThreshold is how many log entries since the last snapshot
	// trigger one (default 8192), checked every SnapshotInterval (default
	// 120 s); TrailingLogs is how many entries a snapshot leaves in the
	// log (default 10240).
	SnapshotThreshold uint64
	SnapshotInterval  time.Duration
	TrailingLogs      uint64
	// RPCTimeout bounds one attempt of a forwarded request and Raft's
	// network I/O (default 10 s).
	RPCTimeout time.Duration
}

// SetBrokerConfig sets the broker liveness and leadership options from
// the resolved broker configuration: broker.session.timeout.ms,
// auto.leader.rebalance.enable, leader.imbalance.check.interval.seconds
// and unclean.leader.election.enable.
func (o *RaftOptions) SetBrokerConfig(b config.Broker) {
	o.BrokerSessionTimeout = time.Duration(b.BrokerSessionTimeoutMs) * time.Millisecond
	o.AutoLeaderRebalance = b.AutoLeaderRebalanceEnable
	o.LeaderImbalanceCheckInterval = time.Duration(b.LeaderImbalanceCheckIntervalSeconds) * time.Second
	o.UncleanLeaderElection = b.UncleanLeaderElectionEnable
}

// withDefaults returns o with the zero fields set.
func (o RaftOptions) withDefaults() RaftOptions {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.BrokerSessionTimeout, 9*time.Second)
	def(&o.LeaderImbalanceCheckInterval, 300*time.Second)
	def(&o.CheckInterval, min(max(o.BrokerSessionTimeout/8, 10*time.Millisecond), time.Second))
	def(&o.HeartbeatTimeout, time.Second)
	def(&o.ElectionTimeout, max(time.Second, o.HeartbeatTimeout))
	def(&o.LeaderLeaseTimeout, min(500*time.Millisecond, o.HeartbeatTimeout))
	def(&o.CommitTimeout, 50*time.Millisecond)
	def(&o.SnapshotInterval, 120*time.Second)
	def(&o.RPCTimeout, 10*time.Second)
	if o.SnapshotThreshold == 0 {
		o.SnapshotThreshold = 8192
	}
	if o.TrailingLogs == 0 {
		o.TrailingLogs = 10240
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.NewID == nil {
		o.NewID = randomUUID
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Dial == nil {
		var d net.Dialer
		o.Dial = d.DialContext
	}
	return o
}

// Raft is the replicated controller: every node runs one; the voters
// elect a leader, the active controller, and the other nodes replicate
// its log as non-voters. Every node applies the same commands to its own
// Image. It has the methods of Local (Image, Submit, Watch, NewTopicID,
// Close) plus Heartbeat, Sync, ActiveController, Addr and Status. It is
// safe for concurrent use. It must be created with OpenRaft and closed
// with Close.
type Raft struct {
	opts      RaftOptions
	advertise string
	voter     bool
	logger    *slog.Logger

	fsm   *fsm
	store *raftboltdb.BoltStore
	trans *raft.NetworkTransport
	raft  *raft.Raft
	// raftReady is closed once raft is set: RPCs can arrive before (the
	// listener serves while Raft starts) and must not touch it until then.
	raftReady chan struct{}
	mux       *mux
	client    *rpcClient

	active atomic.Pointer[activeController]

	// ctx is cancelled when Close begins; closing is its Done channel.
	ctx       context.Context
	cancel    context.CancelFunc
	closing   <-chan struct{}
	closeOnce sync.Once
	closeErr  error
	wg        sync.WaitGroup
	mu        struct {
		sync.Mutex
		closed bool
	}
}

// OpenRaft opens (creating when needed) the controller whose Raft log,
// stable store and snapshots are in dir, and starts serving the
// controller listener. A voter bootstraps the quorum from opts.Voters
// when dir holds no Raft state yet (every voter with the same
// configuration); a non-voter keeps asking the active controller to add
// it as a non-voter until it is a member. OpenRaft does not wait for a
// leader: the image fills in as the log replicates (Sync waits for it).
//
// It returns an error for invalid options (no voters, a duplicate voter
// ID, no address), a listener that cannot be bound, and a Raft state that
// cannot be opened.
func OpenRaft(dir string, opts RaftOptions) (_ *Raft, err error) {
	opts = opts.withDefaults()
	r := &Raft{opts: opts, logger: opts.Logger, raftReady: make(chan struct{})}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	r.closing = r.ctx.Done()
	ln := opts.Listener
	defer func() {
		if err != nil {
			r.cancel()
			if ln != nil {
				ln.Close()
			}
		}
	}()
	self, err := r.checkVoters()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("controller: %w", err)
	}
	if ln == nil {
		bind := opts.BindAddr
		switch {
		case bind != "":
		case r.voter:
			bind = self.Addr
		default:
			bind = opts.AdvertiseAddr
		}
		if bind == "" {
			return nil, fmt.Errorf("controller: node %d is not a voter and has neither a bind nor an advertised address", opts.NodeID)
		}
		if ln, err = net.Listen("tcp", bind); err != nil {
			return nil, fmt.Errorf("controller: listen on %s: %w", bind, err)
		}
	}
	r.advertise = opts.AdvertiseAddr
	if r.voter {
		r.advertise = self.Addr
	}
	if r.advertise == "" || hasPortZero(r.advertise) {
		r.advertise = ln.Addr().String()
	}
	// Other nodes dial it (a quorum of one alone never does).
	if h, _, err := net.SplitHostPort(r.advertise); (!r.voter || len(opts.Voters) > 1) && (err != nil || h == "" || net.ParseIP(h).IsUnspecified()) {
		return nil, fmt.Errorf("controller: node %d would advertise the controller address %q, which other nodes cannot dial; set [listeners] controller (or the node's voters entry) to a reachable host", opts.NodeID, r.advertise)
	}
	if err := r.start(dir, ln); err != nil {
		return nil, err
	}
	return r, nil
}

// checkVoters checks opts.Voters and returns this node's entry, setting
// r.voter.
func (r *Raft) checkVoters() (config.Voter, error) {
	var self config.Voter
	if len(r.opts.Voters) == 0 {
		return self, errors.New("controller: no voters: the quorum needs 1, 3 or 5")
	}
	if r.opts.NodeID < 0 {
		return self, fmt.Errorf("controller: node id %d is negative", r.opts.NodeID)
	}
	for i, v := range r.opts.Voters {
		if slices.ContainsFunc(r.opts.Voters[:i], func(w config.Voter) bool { return w.ID == v.ID }) {
			return self, fmt.Errorf("controller: voter %d is listed twice", v.ID)
		}
		if v.Addr == "" {
			return self, fmt.Errorf("controller: voter %d has no address", v.ID)
		}
		if v.ID == r.opts.NodeID {
			self, r.voter = v, true
		}
	}
	return self, nil
}

func hasPortZero(addr string) bool {
	_, port, err := net.SplitHostPort(addr)
	return err == nil && port == "0"
}

// start opens the stores and Raft and starts the goroutines.
func (r *Raft) start(dir string, ln net.Listener) (err error) {
	o := r.opts
	hlog := newHclog(r.logger, "raft")
	r.fsm = newFSM(r.logger)
	r.store, err = raftboltdb.New(raftboltdb.Options{Path: filepath.Join(dir, RaftDBFileName)})
	if err != nil {
		return fmt.Errorf("controller: open %s: %w", filepath.Join(dir, RaftDBFileName), err)
	}
	defer func() {
		if err != nil {
			r.store.Close()
		}
	}()
	snaps, err := raft.NewFileSnapshotStoreWithLogger(dir, 2, hlog.Named("snapshots"))
	if err != nil {
		return fmt.Errorf("controller: open snapshots in %s: %w", dir, err)
	}
	logs, err := raft.NewLogCache(512, r.store)
	if err != nil {
		return fmt.Errorf("controller: %w", err)
	}

	r.mux = newMux(ln, r.advertise, o.Dial, r.logger)
	r.client = newRPCClient(o.Dial)
	r.trans = raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream: newStreamLayer(r.mux), MaxPool: 3, Timeout: o.RPCTimeout, Logger: hlog.Named("net"),
	})
	defer func() {
		if err != nil {
			r.trans.Close()
			r.mux.close()
		}
	}()
	r.mux.start(func(conn net.Conn) { serveRPCConn(conn, r.handle) })

	conf := raft.DefaultConfig()
	conf.LocalID = raft.ServerID(strconv.Itoa(int(o.NodeID)))
	conf.HeartbeatTimeout, conf.ElectionTimeout = o.HeartbeatTimeout, o.ElectionTimeout
	conf.LeaderLeaseTimeout, conf.CommitTimeout = o.LeaderLeaseTimeout, o.CommitTimeout
	conf.SnapshotThreshold, conf.SnapshotInterval, conf.TrailingLogs = o.SnapshotThreshold, o.SnapshotInterval, o.TrailingLogs
	conf.Logger = hlog
	conf.NoLegacyTelemetry = true

	if r.voter {
		existing, err := raft.HasExistingState(logs, r.store, snaps)
		if err != nil {
			return fmt.Errorf("controller: read Raft state in %s: %w", dir, err)
		}
		if !existing {
			var servers []raft.Server
			for _, v := range o.Voters {
				addr := v.Addr
				if v.ID == o.NodeID {
					addr = r.advertise
				}
				servers = append(servers, raft.Server{Suffrage: raft.Voter, ID: serverID(v.ID), Address: raft.ServerAddress(addr)})
			}
			if err := raft.BootstrapCluster(conf, logs, r.store, snaps, r.trans, raft.Configuration{Servers: servers}); err != nil {
				return fmt.Errorf("controller: bootstrap the quorum: %w", err)
			}
			r.logger.Info("controller: bootstrapped the controller quorum", "voters", len(servers), "dir", dir)
		}
	}
	r.raft, err = raft.NewRaft(conf, r.fsm, logs, r.store, snaps, r.trans)
	if err != nil {
		return fmt.Errorf("controller: start Raft: %w", err)
	}
	close(r.raftReady)
	r.wg.Add(1)
	go r.leadershipLoop()
	if !r.voter {
		r.wg.Add(1)
		go r.joinLoop()
	}
	return nil
}

func serverID(id int32) raft.ServerID { return raft.ServerID(strconv.Itoa(int(id))) }

// goFunc runs fn in a goroutine that Close waits for; false (fn not run)
// once Close has begun.
func (r *Raft) goFunc(fn func()) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.mu.closed {
		return false
	}
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		fn()
	}()
	return true
}

// Image returns the latest image this node has applied. It never blocks
// and is safe for concurrent use; the image may be shared freely. On a
// node that is not the active controller it may lag behind the cluster
// (Sync waits for it to catch up).
func (r *Raft) Image() *Image { return r.fsm.image.Load() }

// Watch registers fn and calls it at once with (nil, the current image),
// then with (old, new) after each command this node applies and after a
// snapshot replaces its state, in order, never concurrently with itself,
// from Raft's apply goroutine. fn must be quick and must not call Submit,
// Sync, Heartbeat, Watch or Close (that deadlocks); it may call Image.
// There is no way to unregister.
func (r *Raft) Watch(fn func(old, new *Image)) {
	if fn != nil {
		r.fsm.watch(fn)
	}
}

// NewTopicID returns a fresh topic ID for a CreateTopic command, from
// RaftOptions.NewID (random by default).
func (r *Raft) NewTopicID() TopicID { return TopicID(r.opts.NewID()) }

// Addr returns the address the controller listener is bound to.
func (r *Raft) Addr() net.Addr { return r.mux.ln.Addr() }

// AdvertisedAddr returns the controller address other nodes know this
// node by.
func (r *Raft) AdvertisedAddr() string { return r.advertise }

// ActiveController returns the node ID of the current Raft leader, as
// this node knows it; ok is false when it knows none.
func (r *Raft) ActiveController() (id int32, ok bool) {
	_, sid := r.raft.LeaderWithID()
	if sid == "" {
		return -1, false
	}
	n, err := strconv.ParseInt(string(sid), 10, 32)
	if err != nil {
		return -1, false
	}
	return int32(n), true
}

// Submit applies cmd through the active controller, wherever it is: on
// the leader it goes into the Raft log; on any other node it is forwarded
// over the controller RPC. It retries across leader changes until ctx
// ends; each attempt carries the same request ID, which the state machine
// remembers, so a command whose first attempt was committed after all is
// applied once. After it applies, Submit waits until this node's Image
// has it (until ctx ends), so that Image reflects the command when Submit
// returns — as with Local.
//
// It returns Apply's error (the same classes, through errors.Is, as
// Local's; a command that fails is a no-op on every node), ErrClosed after
// Close, and ctx.Err() when ctx ends first — in which case the command
// may still be applied.
func (r *Raft) Submit(ctx context.Context, cmd Command) (Result, error) {
	data, err := MarshalCommand(cmd)
	if err != nil {
		return Result{}, err
	}
	if _, err := UnmarshalCommand(data); err != nil {
		return Result{}, err
	}
	id := randomUUID() // never NewID: a deterministic one would repeat after a restart
	req := rpcRequest{Op: opSubmit, Command: data, RequestID: id[:]}
	res, err := r.leaderDo(ctx, req)
	if err != nil {
		return Result{}, err
	}
	// Best effort: the command is applied; a lagging node still returns.
	_ = r.fsm.waitOffset(ctx, res.Offset, r.closing)
	return res, nil
}

// Heartbeat tells the active controller that broker brokerID, registered
// at brokerEpoch, is alive; it retries across leader changes until ctx
// ends. A fenced broker that heartbeats is unfenced (its leaderless
// partitions come back to it). It returns ErrUnknownBroker or
// ErrStaleBrokerEpoch when the broker must register again, ErrClosed
// after Close, and ctx.Err() when ctx ends first.
func (r *Raft) Heartbeat(ctx context.Context, brokerID int32, brokerEpoch int64) error {
	_, err := r.leaderDo(ctx, rpcRequest{Op: opHeartbeat, BrokerID: brokerID, BrokerEpoch: brokerEpoch})
	return err
}

// Sync waits until this node's Image holds every command the active
// controller had applied when Sync asked it (a read barrier). It returns
// ErrClosed after Close and ctx.Err() when ctx ends first.
func (r *Raft) Sync(ctx context.Context) error {
	res, err := r.leaderDo(ctx, rpcRequest{Op: opSync})
	if err != nil {
		return err
	}
	return r.fsm.waitOffset(ctx, res.Offset, r.closing)
}

// leaderDo runs req on the active controller: locally when this node
// leads, else over the RPC to the leader it knows of (or, knowing none,
// to the voters in turn, which answer with the leader they know). It
// retries until the request is answered, ctx ends or r closes, and
// returns the answer's outcome.
func (r *Raft) leaderDo(ctx context.Context, req rpcRequest) (Result, error) {
	backoff := 5 * time.Millisecond
	hint := ""
	for attempt := 0; ; attempt++ {
		select {
		case <-r.closing:
			return Result{}, ErrClosed
		default:
		}
		if err := ctx.Err(); err != nil {
			return Result{}, err
		}
		if r.raft.State() == raft.Leader {
			if resp := r.handle(ctx, req); !resp.NotLeader {
				return resp.Result.decode()
			}
		} else if addr := r.leaderAddr(hint, attempt); addr != "" {
			hint = ""
			actx, cancel := context.WithTimeout(ctx, r.opts.RPCTimeout)
			stop := context.AfterFunc(r.ctx, cancel) // Close ends the call
			resp, err := r.client.call(actx, addr, req)
			stop()
			cancel()
			switch {
			case err != nil:
				r.logger.Debug("controller: RPC failed; retrying", "op", req.Op, "addr", addr, "error", err)
			case resp.NotLeader:
				hint = resp.LeaderAddr
			default:
				return resp.Result.decode()
			}
		}
		select {
		case <-r.closing:
			return Result{}, ErrClosed
		case <-ctx.Done():
			return Result{}, ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 200*time.Millisecond)
	}
}

// leaderAddr returns the address to send a request to: hint, the leader
// this node knows, or the attempt-th other voter; "" for none.
func (r *Raft) leaderAddr(hint string, attempt int) string {
	if hint != "" && hint != r.advertise {
		return hint
	}
	if addr, _ := r.raft.LeaderWithID(); addr != "" && string(addr) != r.advertise {
		return string(addr)
	}
	var others []string
	for _, v := range r.opts.Voters {
		if v.ID != r.opts.NodeID {
			others = append(others, v.Addr)
		}
	}
	if len(others) == 0 {
		return ""
	}
	return others[attempt%len(others)]
}

// RaftMember is a member of the Raft configuration.
type RaftMember struct {
	ID   int32
	Addr string
}

// RaftStatus is a node's view of the controller quorum, for `weir
// cluster status`.
type RaftStatus struct {
	NodeID int32
	// State is this node's Raft state: "Follower", "Candidate", "Leader"
	// or "Shutdown".
	State string
	// Leader is the active controller's node ID, -1 when none is known.
	Leader     int32
	LeaderAddr string
	Term       uint64
	Voters     []RaftMember // sorted by ID
	NonVoters  []RaftMember // sorted by ID
	// LastLogIndex, CommitIndex and AppliedIndex are Raft log indexes on
	// this node; ImageOffset is its image's Offset.
	LastLogIndex uint64
	CommitIndex  uint64
	AppliedIndex uint64
	ImageOffset  int64
}

// Status returns this node's view of the quorum. It returns an error
// when the Raft configuration cannot be read (after Close).
func (r *Raft) Status() (RaftStatus, error) {
	st := RaftStatus{
		NodeID: r.opts.NodeID, State: r.raft.State().String(), Leader: -1,
		Term: r.raft.CurrentTerm(), LastLogIndex: r.raft.LastIndex(), CommitIndex: r.raft.CommitIndex(),
		AppliedIndex: r.raft.AppliedIndex(), ImageOffset: r.Image().Offset(),
	}
	addr, _ := r.raft.LeaderWithID()
	st.LeaderAddr = string(addr)
	if id, ok := r.ActiveController(); ok {
		st.Leader = id
	}
	f := r.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return st, fmt.Errorf("controller: read the Raft configuration: %w", err)
	}
	for _, s := range f.Configuration().Servers {
		n, err := strconv.ParseInt(string(s.ID), 10, 32)
		if err != nil {
			continue
		}
		m := RaftMember{ID: int32(n), Addr: string(s.Address)}
		if s.Suffrage == raft.Voter {
			st.Voters = append(st.Voters, m)
		} else {
			st.NonVoters = append(st.NonVoters, m)
		}
	}
	byID := func(a, b RaftMember) int { return int(a.ID) - int(b.ID) }
	slices.SortFunc(st.Voters, byID)
	slices.SortFunc(st.NonVoters, byID)
	return st, nil
}

// Close stops the active controller's duties, shuts Raft down, closes
// the listener and its connections, and closes the log store. Running
// Submits, Heartbeats and Syncs return ErrClosed; Image keeps returning
// the last image. Closing twice returns the first result. A voter that
// closes is still a voter: the quorum elects another leader if it led.
func (r *Raft) Close() error {
	r.closeOnce.Do(func() {
		r.mu.Lock()
		r.mu.closed = true
		r.mu.Unlock()
		r.cancel()
		// Hand leadership over first, so the quorum has an active
		// controller at once instead of after an election timeout.
		if r.raft.State() == raft.Leader && len(r.opts.Voters) > 1 {
			if err := r.raft.LeadershipTransfer().Error(); err != nil {
				r.logger.Debug("controller: leadership transfer at close", "error", err)
			}
		}
		errs := []error{r.raft.Shutdown().Error()}
		r.wg.Wait()
		r.client.close()
		r.trans.CloseStreams()
		errs = append(errs, r.trans.Close(), r.mux.close(), r.store.Close())
		if err := errors.Join(errs...); err != nil {
			r.closeErr = fmt.Errorf("controller: close: %w", err)
		}
	})
	return r.closeErr
}

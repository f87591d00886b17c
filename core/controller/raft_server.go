package controller

import (
	"context"
	"errors"
	"time"

	"github.com/hashicorp/raft"
)

// handle answers one controller request: on the active controller it acts
// on it, elsewhere it answers NotLeader with the leader it knows. Both
// the RPC server and a leader's own calls (leaderDo) use it.
func (r *Raft) handle(ctx context.Context, req rpcRequest) rpcResponse {
	select {
	case <-r.raftReady:
	default:
		return rpcResponse{NotLeader: true} // still starting: the caller retries
	}
	notLeader := func() rpcResponse {
		addr, _ := r.raft.LeaderWithID()
		return rpcResponse{NotLeader: true, LeaderAddr: string(addr)}
	}
	if r.raft.State() != raft.Leader {
		return notLeader()
	}
	fail := func(err error) rpcResponse { return rpcResponse{Result: encodeResult(Result{}, err)} }
	switch req.Op {
	case opSubmit:
		if len(req.RequestID) != 16 {
			return fail(failMsg(ErrInvalidCommand, "controller RPC: a submit needs a 16-byte request ID"))
		}
		resp, retry := r.applyLocal(ctx, req.Command, req.RequestID)
		if retry {
			return notLeader()
		}
		return rpcResponse{Result: resp}
	case opHeartbeat:
		a := r.active.Load()
		if a == nil {
			return notLeader() // not yet ready (or no longer) to track sessions
		}
		return fail(a.heartbeat(ctx, req.BrokerID, req.BrokerEpoch))
	case opJoin:
		return fail(r.addNonvoter(req.NodeID, req.Addr))
	case opSync:
		if err := r.raft.Barrier(r.opts.RPCTimeout).Error(); err != nil {
			return notLeader()
		}
		return rpcResponse{Result: wireResult{Offset: r.Image().Offset()}}
	}
	return fail(failMsg(ErrInvalidCommand, "controller RPC: unknown operation "+quote(req.Op)))
}

// failMsg is fail with a fixed message.
func failMsg(class error, msg string) error { return fail(class, "%s", msg) }

// applyLocal appends a command (MarshalCommand's bytes) to the Raft log on
// the leader and waits for it to be applied. retry reports an attempt
// whose outcome this node cannot tell — it did not reach the log, its
// leadership ended, Raft is shutting down, or the wait ended: the caller
// tries again (at the new leader) with the same request ID, which the
// state machine answers with the first result if the command did commit.
func (r *Raft) applyLocal(ctx context.Context, data, requestID []byte) (w wireResult, retry bool) {
	timeout := r.opts.RPCTimeout
	if dl, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(dl))
	}
	if timeout <= 0 {
		return wireResult{}, true // nothing appended; the caller's own deadline decides
	}
	f := r.raft.ApplyLog(raft.Log{Data: data, Extensions: requestID}, timeout)
	done := make(chan error, 1)
	if !r.goFunc(func() { done <- f.Error() }) {
		// Closing, but the entry may be in the log already: its outcome
		// is unknown, so the caller retries (the request ID makes a
		// committed one answer with its first result).
		return wireResult{}, true
	}
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		return wireResult{}, true // outcome unknown; see above
	}
	switch {
	case err == nil:
		resp, _ := f.Response().(*applyResponse)
		if resp == nil {
			return encodeResult(Result{}, failMsg(ErrInvalidCommand, "controller: the state machine gave no result")), false
		}
		return resp.wire, false
	default:
		// ErrNotLeader, ErrLeadershipLost, ErrLeadershipTransferInProgress,
		// ErrEnqueueTimeout, ErrAbortedByRestore, ErrRaftShutdown: the
		// outcome is unknown or nothing was applied; try again (at the
		// next leader), never a final error for a write that may land.
		r.logger.Debug("controller: command not applied here; retrying", "error", err)
		return wireResult{}, true
	}
}

// submitLocal applies cmd on this node, the leader, for the active
// controller's own duties.
func (r *Raft) submitLocal(ctx context.Context, cmd Command) (Result, error) {
	data, err := MarshalCommand(cmd)
	if err != nil {
		return Result{}, err
	}
	id := randomUUID()
	w, retry := r.applyLocal(ctx, data, id[:])
	if retry {
		return Result{}, errors.New("controller: lost leadership before the command applied")
	}
	return w.decode()
}

// addNonvoter adds node id at addr to the Raft configuration as a
// non-voter, or updates its address; a member already there at addr is
// left as it is.
func (r *Raft) addNonvoter(id int32, addr string) error {
	if id < 0 || addr == "" {
		return fail(ErrInvalidBroker, "join: node %d at %q is not a valid member", id, addr)
	}
	f := r.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return err
	}
	sid := serverID(id)
	for _, s := range f.Configuration().Servers {
		if s.ID != sid {
			continue
		}
		if string(s.Address) == addr {
			return nil
		}
		if s.Suffrage == raft.Voter {
			return r.raft.AddVoter(sid, raft.ServerAddress(addr), 0, r.opts.RPCTimeout).Error()
		}
	}
	r.logger.Info("controller: adding a non-voter", "node_id", id, "addr", addr)
	return r.raft.AddNonvoter(sid, raft.ServerAddress(addr), 0, r.opts.RPCTimeout).Error()
}

// joinLoop asks the active controller to add this node as a non-voter
// until it answers yes or r closes.
func (r *Raft) joinLoop() {
	defer r.wg.Done()
	backoff := 50 * time.Millisecond
	for {
		ctx, cancel := context.WithTimeout(r.ctx, r.opts.RPCTimeout)
		_, err := r.leaderDo(ctx, rpcRequest{Op: opJoin, NodeID: r.opts.NodeID, Addr: r.advertise})
		cancel()
		if err == nil {
			r.logger.Info("controller: joined the cluster as a non-voter", "node_id", r.opts.NodeID, "addr", r.advertise)
			return
		}
		if errors.Is(err, ErrClosed) || r.ctx.Err() != nil {
			return
		}
		r.logger.Warn("controller: could not join the cluster yet; retrying", "node_id", r.opts.NodeID, "error", err)
		select {
		case <-r.closing:
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

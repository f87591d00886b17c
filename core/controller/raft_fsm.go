package controller

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/raft"
)

// requestWindow is how many recent request IDs the FSM remembers with
// their outcome, so that a Submit retried after a leader change (whose
// first attempt may have been committed) is applied once. The window is
// part of the replicated state: every node remembers the same IDs.
const requestWindow = 4096

// recordRequests is the snapshot record holding the request window (the
// image is a recordSnapshot record; see metalog.go for the framing).
const recordRequests byte = 3

// fsm is the Raft state machine: the Image, advanced by (*Image).Apply on
// every committed command, on every node. Raft calls Apply, Snapshot and
// Restore from one goroutine; Image, Watch and waitOffset are safe for
// concurrent use.
type fsm struct {
	logger *slog.Logger
	image  atomic.Pointer[Image]

	// mu is held while a command is applied and published, and while a
	// watcher registers, so that a watcher sees every image once, in
	// order.
	mu       sync.Mutex
	watchers []func(old, new *Image)
	recent   map[[16]byte]wireResult
	order    [][16]byte // recent's keys, oldest first

	notifyMu sync.Mutex
	notify   chan struct{} // closed and replaced when the image changes
}

func newFSM(logger *slog.Logger) *fsm {
	f := &fsm{logger: logger, recent: make(map[[16]byte]wireResult), notify: make(chan struct{})}
	f.image.Store(NewImage())
	return f
}

// applyResponse is what Apply returns to raft's ApplyFuture: the outcome
// as Apply gave it (res, err) and its wire form.
type applyResponse struct {
	res  Result
	err  error
	wire wireResult
}

// Apply applies one committed log entry. A command that does not decode
// or does not apply changes nothing (on every node alike); a request ID
// seen in the window gives its first outcome again without applying.
func (f *fsm) Apply(l *raft.Log) any {
	f.mu.Lock()
	defer f.mu.Unlock()
	var id [16]byte
	hasID := len(l.Extensions) == len(id)
	if hasID {
		copy(id[:], l.Extensions)
		if w, ok := f.recent[id]; ok {
			res, err := w.decode()
			return &applyResponse{res: res, err: err, wire: w}
		}
	}
	old := f.image.Load()
	next := old
	var res Result
	cmd, err := UnmarshalCommand(l.Data)
	if err == nil {
		next, res, err = old.Apply(cmd)
	} else {
		f.logger.Warn("controller: skipping a Raft log entry that does not decode", "index", l.Index, "error", err)
	}
	w := encodeResult(res, err)
	if hasID {
		f.remember(id, w)
	}
	if next != old {
		f.publish(old, next)
	}
	return &applyResponse{res: res, err: err, wire: w}
}

// remember adds id to the window, forgetting the oldest when full. The
// caller holds mu.
func (f *fsm) remember(id [16]byte, w wireResult) {
	if len(f.order) >= requestWindow {
		delete(f.recent, f.order[0])
		f.order = f.order[1:]
	}
	f.recent[id] = w
	f.order = append(f.order, id)
}

// publish makes next the image and calls the watchers. The caller holds
// mu.
func (f *fsm) publish(old, next *Image) {
	f.image.Store(next)
	for _, fn := range f.watchers {
		fn(old, next)
	}
	f.notifyMu.Lock()
	close(f.notify)
	f.notify = make(chan struct{})
	f.notifyMu.Unlock()
}

// watch registers fn and calls it with (nil, current image).
func (f *fsm) watch(fn func(old, new *Image)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.watchers = append(f.watchers, fn)
	fn(nil, f.image.Load())
}

// waitOffset waits until the image's Offset is at least offset. It
// returns ctx.Err() or errClosed(done) when they end first.
func (f *fsm) waitOffset(ctx context.Context, offset int64, done <-chan struct{}) error {
	for {
		f.notifyMu.Lock()
		ch := f.notify
		f.notifyMu.Unlock()
		if f.image.Load().Offset() >= offset {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-done:
			return ErrClosed
		}
	}
}

// snapshotRequest is one entry of the request window in a snapshot.
type snapshotRequest struct {
	ID     []byte     `json:"id"`
	Result wireResult `json:"result"`
}

// Snapshot captures the image and the request window. Raft calls it
// between Applies, so both are consistent with the applied index.
func (f *fsm) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	reqs := make([]snapshotRequest, len(f.order))
	for i, id := range f.order {
		reqs[i] = snapshotRequest{ID: append([]byte(nil), id[:]...), Result: f.recent[id]}
	}
	return &fsmSnapshot{img: f.image.Load(), reqs: reqs}, nil
}

// Restore replaces the state with a snapshot's and calls the watchers
// with (old, restored image). A snapshot that does not decode is an
// error, and the state stays as it was.
func (f *fsm) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, maxRecordBytes*2+1))
	if err != nil {
		return fmt.Errorf("controller: read snapshot: %w", err)
	}
	img, reqs, err := decodeSnapshot(data)
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.recent = make(map[[16]byte]wireResult, len(reqs))
	f.order = f.order[:0]
	for _, r := range reqs {
		var id [16]byte
		copy(id[:], r.ID)
		f.remember(id, r.Result)
	}
	old := f.image.Load()
	f.publish(old, img)
	return nil
}

// decodeSnapshot reads a snapshot written by fsmSnapshot.Persist: one
// image record, then optionally the request window.
func decodeSnapshot(data []byte) (*Image, []snapshotRequest, error) {
	var img *Image
	var reqs []snapshotRequest
	good, reason, err := scanFrames(bytes.NewReader(data), int64(len(data)), func(kind byte, payload []byte) error {
		switch {
		case kind == recordSnapshot && img == nil:
			decoded, err := DecodeImage(payload)
			if err != nil {
				return &errStop{reason: err.Error()}
			}
			img = decoded
		case kind == recordRequests && img != nil && reqs == nil:
			if err := json.Unmarshal(payload, &reqs); err != nil {
				return &errStop{reason: "request window: " + err.Error()}
			}
			for _, r := range reqs {
				if len(r.ID) != 16 {
					return &errStop{reason: "request window: a request ID is not 16 bytes"}
				}
			}
		default:
			return &errStop{reason: fmt.Sprintf("unexpected record kind %d", kind)}
		}
		return nil
	})
	switch {
	case err != nil:
		return nil, nil, fmt.Errorf("controller: snapshot: %w", err)
	case good < int64(len(data)):
		return nil, nil, fmt.Errorf("controller: snapshot is corrupt at byte %d: %s", good, reason)
	case img == nil:
		return nil, nil, fmt.Errorf("controller: snapshot holds no image")
	}
	return img, reqs, nil
}

// fsmSnapshot is a point-in-time state, written by Persist in the
// metadata log's framing: a recordSnapshot record with the image's JSON,
// then a recordRequests record with the request window.
type fsmSnapshot struct {
	img  *Image
	reqs []snapshotRequest
}

// Persist writes the snapshot to sink and closes it; on failure it
// cancels the sink.
func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	data, err := s.encode()
	if err == nil {
		_, err = sink.Write(data)
	}
	if err != nil {
		sink.Cancel()
		return fmt.Errorf("controller: write snapshot: %w", err)
	}
	return sink.Close()
}

func (s *fsmSnapshot) encode() ([]byte, error) {
	imgJSON, err := s.img.MarshalJSON()
	if err != nil {
		return nil, err
	}
	imgFrame, err := encodeFrame(recordSnapshot, imgJSON)
	if err != nil {
		return nil, err
	}
	reqJSON, err := marshal(s.reqs)
	if err != nil {
		return nil, err
	}
	reqFrame, err := encodeFrame(recordRequests, reqJSON)
	if err != nil {
		return nil, err
	}
	return append(imgFrame, reqFrame...), nil
}

// Release does nothing: the snapshot holds only immutable values.
func (s *fsmSnapshot) Release() {}

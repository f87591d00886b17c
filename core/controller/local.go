package controller

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"
)

// LogFileName is the name of the metadata log in a Local's directory.
const LogFileName = "metadata.log"

// DefaultSnapshotEvery is how many records metadata.log may hold before a
// Local rewrites it as one snapshot, when LocalOptions.SnapshotEvery is 0.
const DefaultSnapshotEvery = 1000

// LocalOptions configure OpenLocal. NodeID, Host, Port and Rack are this
// node's broker registration.
type LocalOptions struct {
	NodeID int32
	Host   string
	Port   int32
	Rack   string // "" for none
	// Logger receives replay problems and snapshot failures; nil discards.
	Logger *slog.Logger
	// NewID returns a fresh 16-byte ID, used for the cluster ID and by
	// NewTopicID; nil uses random version-4 UUIDs. Tests pass a
	// deterministic one.
	NewID func() [16]byte
	// SnapshotEvery is how many records metadata.log may hold before it
	// is rewritten as a single snapshot: 0 means DefaultSnapshotEvery, a
	// negative number never.
	SnapshotEvery int
}

// Local is the single-node controller: the state machine of this package
// with its commands kept in <dir>/metadata.log (see metalog.go for the
// format). It is safe for concurrent use. It must be created with
// OpenLocal and closed with Close.
type Local struct {
	path          string
	logger        *slog.Logger
	newID         func() [16]byte
	snapshotEvery int

	image atomic.Pointer[Image]

	// sem holds one token while a Submit, Watch or Close runs: it
	// serialises them and guards mu. A channel rather than a Mutex, so
	// that Submit can give up waiting when its context ends.
	sem chan struct{}
	mu  struct {
		f          *os.File
		size       int64 // bytes of good records in f
		records    int   // records in f
		snapshotAt int   // snapshot when records exceeds this
		failed     error // sticky: a write failed, refuse further commands
		closed     bool
		watchers   []func(old, new *Image)
	}
}

// OpenLocal opens (creating when needed) the controller whose metadata
// log is in dir, and replays the log. A torn or corrupt record ends the
// replay: the file is truncated after the last good record, the cut bytes
// are kept in metadata.log.discarded for inspection, and a warning is
// logged; a command that replays but fails Apply is logged and skipped. On
// the first open it initialises the cluster with a fresh cluster ID; on
// every open it registers the node as a broker unless the image already
// has it with the same address and rack. It returns an error only for I/O
// failures and an invalid registration (ErrInvalidBroker), never for the
// contents of the file.
func OpenLocal(dir string, opts LocalOptions) (*Local, error) {
	l := &Local{
		path:          filepath.Join(dir, LogFileName),
		logger:        opts.Logger,
		newID:         opts.NewID,
		snapshotEvery: opts.SnapshotEvery,
		sem:           make(chan struct{}, 1),
	}
	if l.logger == nil {
		l.logger = slog.New(slog.DiscardHandler)
	}
	if l.newID == nil {
		l.newID = randomUUID
	}
	if l.snapshotEvery == 0 {
		l.snapshotEvery = DefaultSnapshotEvery
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("controller: %w", err)
	}
	if err := os.Remove(l.path + ".tmp"); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("controller: remove stale snapshot: %w", err)
	}
	_, statErr := os.Stat(l.path)
	f, err := os.OpenFile(l.path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("controller: %w", err)
	}
	l.mu.f = f
	if errors.Is(statErr, os.ErrNotExist) {
		if err := syncDir(dir); err != nil {
			f.Close()
			return nil, fmt.Errorf("controller: %w", err)
		}
	}
	if err := l.replay(); err != nil {
		f.Close()
		return nil, fmt.Errorf("controller: replay %s: %w", l.path, err)
	}
	l.sem <- struct{}{}
	defer func() { <-l.sem }()
	if err := l.bootstrap(opts); err != nil {
		l.mu.f.Close()
		l.mu.closed = true
		return nil, fmt.Errorf("controller: %w", err)
	}
	l.maybeSnapshot()
	return l, nil
}

// replay reads metadata.log into the image, truncating it after the last
// good record.
func (l *Local) replay() error {
	f := l.mu.f
	st, err := f.Stat()
	if err != nil {
		return err
	}
	img, records := NewImage(), 0
	good, reason, err := scanFrames(io.NewSectionReader(f, 0, st.Size()), st.Size(), func(kind byte, payload []byte) error {
		switch kind {
		case recordCommand:
			cmd, err := UnmarshalCommand(payload)
			if err != nil {
				return &errStop{reason: err.Error()}
			}
			next, _, err := img.Apply(cmd)
			if err != nil {
				l.logger.Warn("controller: skipping a command that no longer applies", "path", l.path, "record", records, "offset", img.Offset(), "error", err)
			}
			img = next
		case recordSnapshot:
			snap, err := DecodeImage(payload)
			if err != nil {
				return &errStop{reason: err.Error()}
			}
			img = snap
		default:
			return &errStop{reason: fmt.Sprintf("unknown record kind %d", kind)}
		}
		records++
		return nil
	})
	if err != nil {
		return err
	}
	if good < st.Size() {
		l.discard(f, good, st.Size(), reason)
		if err := f.Truncate(good); err != nil {
			return err
		}
		if err := syncFile(f); err != nil {
			return err
		}
	}
	l.image.Store(img)
	l.mu.size, l.mu.records = good, records
	l.mu.snapshotAt = l.snapshotEvery
	return nil
}

// discard keeps bytes [from, to) of f in metadata.log.discarded, replacing
// an earlier one, and logs why they are cut off. Failing to keep them is
// logged, not returned: the start must go on.
func (l *Local) discard(f *os.File, from, to int64, reason string) {
	keep := l.path + ".discarded"
	l.logger.Warn("controller: metadata log has a torn or corrupt record; truncating it after the last good record",
		"path", l.path, "position", from, "discarded_bytes", to-from, "reason", reason, "kept_in", keep)
	out, err := os.OpenFile(keep, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err == nil {
		_, err = io.Copy(out, io.NewSectionReader(f, from, to-from))
		if cerr := out.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		l.logger.Warn("controller: could not keep the discarded bytes", "path", keep, "error", err)
	}
}

// bootstrap initialises the cluster on first start and (re-)registers the
// node. The caller holds sem.
func (l *Local) bootstrap(opts LocalOptions) error {
	img := l.image.Load()
	if img.ClusterID() == "" {
		id := l.newID()
		if _, err := l.submitLocked(InitCluster{ClusterID: base64.RawURLEncoding.EncodeToString(id[:])}); err != nil {
			return err
		}
		img = l.image.Load()
	}
	b, ok := img.Broker(opts.NodeID)
	if ok && !b.Fenced && b.Host == opts.Host && b.Port == opts.Port && b.Rack == opts.Rack {
		return nil
	}
	_, err := l.submitLocked(RegisterBroker{ClusterID: img.ClusterID(), ID: opts.NodeID, Host: opts.Host, Port: opts.Port, Rack: opts.Rack})
	return err
}

// Submit applies cmd and makes it durable: the command is checked with
// Apply against the current image, and only when it applies is it
// appended to metadata.log and fsynced, then the new image is published
// and the watchers are called. Submits are serialised.
//
// It returns Apply's error (nothing written) for a command that does not
// apply; ctx.Err() when ctx ends before the command's turn (nothing
// written); ErrClosed after Close. A failed write or fsync is returned,
// and every later Submit returns it too: the command may or may not be in
// the file, so whether it is applied after a restart is unknown, and the
// caller must not answer with a retriable error.
func (l *Local) Submit(ctx context.Context, cmd Command) (Result, error) {
	select {
	case l.sem <- struct{}{}:
	case <-ctx.Done():
		return Result{}, ctx.Err()
	}
	defer func() { <-l.sem }()
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	res, err := l.submitLocked(cmd)
	if err == nil {
		l.maybeSnapshot()
	}
	return res, err
}

// submitLocked is Submit with sem held.
func (l *Local) submitLocked(cmd Command) (Result, error) {
	if l.mu.closed {
		return Result{}, ErrClosed
	}
	if l.mu.failed != nil {
		return Result{}, l.mu.failed
	}
	data, err := MarshalCommand(cmd)
	if err != nil {
		return Result{}, err
	}
	// Apply the command as replay will see it, after its round trip
	// through JSON (which, for one, replaces invalid UTF-8).
	decoded, err := UnmarshalCommand(data)
	if err != nil {
		return Result{}, err
	}
	old := l.image.Load()
	next, res, err := old.Apply(decoded)
	if err != nil {
		return Result{}, err
	}
	frame, err := encodeFrame(recordCommand, data)
	if err != nil {
		return Result{}, err
	}
	if err := l.append(frame); err != nil {
		return Result{}, err
	}
	l.image.Store(next)
	for _, fn := range l.mu.watchers {
		fn(old, next)
	}
	return res, nil
}

// append writes frame at the end of the good records and fsyncs. On
// failure it cuts the file back (best effort) and marks l failed.
func (l *Local) append(frame []byte) error {
	f := l.mu.f
	_, err := f.WriteAt(frame, l.mu.size)
	if err == nil {
		err = syncFile(f)
	}
	if err != nil {
		_ = f.Truncate(l.mu.size)
		l.mu.failed = fmt.Errorf("controller: write %s failed; refusing further commands until restart (the failed command may be applied after it): %w", l.path, err)
		l.logger.Error("controller: metadata log write failed", "path", l.path, "error", err)
		return l.mu.failed
	}
	l.mu.size += int64(len(frame))
	l.mu.records++
	return nil
}

// maybeSnapshot rewrites metadata.log as one snapshot record once it holds
// more than snapshotEvery records. The caller holds sem. A failure before
// the new file replaces the old one is logged and retried snapshotEvery
// records later; one after marks l failed.
func (l *Local) maybeSnapshot() {
	if l.snapshotEvery < 0 || l.mu.records <= l.mu.snapshotAt || l.mu.failed != nil || l.mu.closed {
		return
	}
	l.mu.snapshotAt = l.mu.records + l.snapshotEvery
	payload, err := l.image.Load().MarshalJSON()
	var frame []byte
	if err == nil {
		frame, err = encodeFrame(recordSnapshot, payload)
	}
	renamed := false
	if err == nil {
		renamed, err = writeFileAtomic(l.path, frame)
	}
	var f *os.File
	if renamed && err == nil {
		f, err = os.OpenFile(l.path, os.O_RDWR, 0)
	}
	switch {
	case err != nil && !renamed:
		l.logger.Warn("controller: metadata snapshot failed; keeping the full log", "path", l.path, "error", err)
	case err != nil:
		l.mu.failed = fmt.Errorf("controller: replace %s with a snapshot: %w", l.path, err)
		l.logger.Error("controller: metadata snapshot failed after replacing the log", "path", l.path, "error", err)
	default:
		l.mu.f.Close()
		l.mu.f, l.mu.size, l.mu.records = f, int64(len(frame)), 1
		l.mu.snapshotAt = l.snapshotEvery
	}
}

// Image returns the latest image. It never blocks and is safe for
// concurrent use; the image may be shared freely.
func (l *Local) Image() *Image { return l.image.Load() }

// Watch registers fn and calls it at once with (nil, the current image),
// then with (old, new) after each command that a later Submit applies, in
// order, synchronously from that Submit, before the Submit returns. So fn
// sees every image exactly once. fn runs while Submit holds the
// controller: it must be quick and must not call Submit, Watch or Close
// (that deadlocks); it may call Image. There is no way to unregister.
func (l *Local) Watch(fn func(old, new *Image)) {
	if fn == nil {
		return
	}
	l.sem <- struct{}{}
	defer func() { <-l.sem }()
	l.mu.watchers = append(l.mu.watchers, fn)
	fn(nil, l.image.Load())
}

// NewTopicID returns a fresh topic ID for a CreateTopic command, from
// LocalOptions.NewID (random by default). Safe for concurrent use when
// NewID is.
func (l *Local) NewTopicID() TopicID { return TopicID(l.newID()) }

// Close waits for a running Submit, then closes the metadata log. Later
// Submits return ErrClosed; Image keeps returning the last image. Closing
// twice returns nil.
func (l *Local) Close() error {
	l.sem <- struct{}{}
	defer func() { <-l.sem }()
	if l.mu.closed {
		return nil
	}
	l.mu.closed = true
	if err := l.mu.f.Close(); err != nil {
		return fmt.Errorf("controller: close %s: %w", l.path, err)
	}
	return nil
}

// randomUUID returns a random version-4 UUID that is not zero and whose
// text form does not start with '-', as Kafka's Uuid.randomUuid.
func randomUUID() [16]byte {
	for {
		var id [16]byte
		rand.Read(id[:])
		id[6] = id[6]&0x0f | 0x40
		id[8] = id[8]&0x3f | 0x80
		if s := TopicID(id).String(); s[0] != '-' {
			return id
		}
	}
}

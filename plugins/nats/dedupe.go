package nats

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// window remembers the identities (identity) of the last stream messages
// a JetStream route wrote, so that a redelivery of one is acked without
// being written again, and the identities of messages being written, so
// that a redelivery arriving meanwhile waits for the first delivery's
// outcome. A window of size 0 remembers nothing. Safe for concurrent use.
type window struct {
	size int
	mu   struct {
		sync.Mutex
		set      map[string]struct{}
		ring     []string // the set's members, oldest at next once full
		next     int
		inflight map[string][]jetstream.Msg // identity → later deliveries waiting
	}
}

func newWindow(size int) *window {
	w := &window{size: size}
	w.mu.set = make(map[string]struct{}, size)
	w.mu.ring = make([]string, 0, size)
	w.mu.inflight = map[string][]jetstream.Msg{}
	return w
}

// outcome of window.begin.
const (
	beginWrite     = iota // new: write it, then call commit or abort
	beginDuplicate        // already written: ack it
	beginWaiting          // being written: it is acked or nakked with the first delivery
)

// begin classifies a delivery of the message known as id. A waiting
// delivery is kept and returned by commit or abort.
func (w *window) begin(id string, m jetstream.Msg) int {
	if w.size == 0 {
		return beginWrite
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.mu.set[id]; ok {
		return beginDuplicate
	}
	if waiting, ok := w.mu.inflight[id]; ok {
		w.mu.inflight[id] = append(waiting, m)
		return beginWaiting
	}
	w.mu.inflight[id] = nil
	return beginWrite
}

// commit records that id has been written and returns the deliveries that
// waited for it, to be acked.
func (w *window) commit(id string) []jetstream.Msg {
	if w.size == 0 {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	waiting := w.mu.inflight[id]
	delete(w.mu.inflight, id)
	w.addLocked(id)
	return waiting
}

// abort records that writing id failed and returns the deliveries that
// waited for it, to be nakked.
func (w *window) abort(id string) []jetstream.Msg {
	if w.size == 0 {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	waiting := w.mu.inflight[id]
	delete(w.mu.inflight, id)
	return waiting
}

// add records id as written (the scan at start-up).
func (w *window) add(id string) {
	if w.size == 0 {
		return
	}
	w.mu.Lock()
	w.addLocked(id)
	w.mu.Unlock()
}

func (w *window) addLocked(id string) {
	if _, ok := w.mu.set[id]; ok {
		return
	}
	if len(w.mu.ring) < w.size {
		w.mu.ring = append(w.mu.ring, id)
	} else {
		delete(w.mu.set, w.mu.ring[w.mu.next])
		w.mu.ring[w.mu.next] = id
		w.mu.next = (w.mu.next + 1) % w.size
	}
	w.mu.set[id] = struct{}{}
}

// len returns how many identities the window holds.
func (w *window) len() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.mu.set)
}

// scanStall is how long the start-up scan waits for a partition to make
// progress before it takes the partition as read (a gap of control
// records at the end of a log is never returned as records).
const scanStall = 2 * time.Second

// loadWindow fills the window from what the route wrote before: the last
// w.size records of every partition of the route's topics (the topic, or
// every topic its template could give, and the dead-letter topic) that
// came from the route's stream. A bridge that stopped without acking what
// it had written — a crash — then skips those messages when JetStream
// redelivers them. It returns how many identities it found, or an error
// when the cluster could not be read.
func (r *route) loadWindow(ctx context.Context) (int, error) {
	if r.win.size == 0 {
		return 0, nil
	}
	names := []string{r.cfg.DeadLetter()}
	if r.tmpl.Static() {
		names = append(names, r.tmpl.String())
	} else {
		all, err := r.adm.ListTopics(ctx)
		if err != nil {
			return 0, fmt.Errorf("listing topics: %w", err)
		}
		for _, name := range all.Names() {
			if r.tmpl.Matches(name) {
				names = append(names, name)
			}
		}
	}
	starts, err := r.adm.ListStartOffsets(ctx, names...)
	if err != nil {
		return 0, fmt.Errorf("listing start offsets: %w", err)
	}
	ends, err := r.adm.ListEndOffsets(ctx, names...)
	if err != nil {
		return 0, fmt.Errorf("listing end offsets: %w", err)
	}
	from := map[string]map[int32]kgo.Offset{}
	until := map[string]map[int32]int64{} // next offset to reach
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err != nil || o.Offset <= 0 {
			return // a topic that does not exist yet holds nothing of ours
		}
		start := int64(0)
		if s, ok := starts.Lookup(o.Topic, o.Partition); ok && s.Err == nil {
			start = s.Offset
		}
		at := max(start, o.Offset-int64(r.win.size))
		if at >= o.Offset {
			return
		}
		if from[o.Topic] == nil {
			from[o.Topic], until[o.Topic] = map[int32]kgo.Offset{}, map[int32]int64{}
		}
		from[o.Topic][o.Partition] = kgo.NewOffset().At(at)
		until[o.Topic][o.Partition] = o.Offset
	})
	if len(from) == 0 {
		return 0, nil
	}
	cl, err := kgo.NewClient(append(r.kafkaOpts(), kgo.ConsumePartitions(from), kgo.FetchMaxWait(500*time.Millisecond))...)
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	remaining := 0
	for _, ps := range until {
		remaining += len(ps)
	}
	found, stream := 0, r.cfg.Stream
	lastProgress := time.Now()
	for remaining > 0 {
		pctx, cancel := context.WithTimeout(ctx, scanStall)
		fs := cl.PollFetches(pctx)
		cancel()
		if err := ctx.Err(); err != nil {
			return found, err
		}
		progressed := false
		fs.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.DeadlineExceeded) {
				r.log.Warn("reading back written records", "topic", t, "partition", p, "err", err)
			}
		})
		fs.EachRecord(func(rec *kgo.Record) {
			progressed = true
			var msgID, seq, src string
			for _, h := range rec.Headers {
				switch {
				case h.Key == HeaderStream:
					src = string(h.Value)
				case h.Key == HeaderSeq:
					seq = string(h.Value)
				case strings.EqualFold(h.Key, HeaderMsgID): // as lookupHeader matches it on delivery
					if msgID == "" {
						msgID = string(h.Value)
					}
				}
			}
			if src == stream {
				if n, err := strconv.ParseUint(seq, 10, 64); err == nil || msgID != "" {
					r.win.add(identity(msgID, n, rec.Timestamp.UnixMilli()))
					found++
				}
			}
			ps := until[rec.Topic]
			if end, ok := ps[rec.Partition]; ok && rec.Offset+1 >= end {
				delete(ps, rec.Partition)
				remaining--
			}
		})
		if progressed {
			lastProgress = time.Now()
		} else if time.Since(lastProgress) >= scanStall {
			break // the rest are gaps (control records, compacted away)
		}
	}
	return found, nil
}

package nats

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

func TestMsgQueueBatches(t *testing.T) {
	q := newMsgQueue()
	timer := newStoppedTimer()
	msgs := make([]jetstream.Msg, 7)
	for i := range msgs {
		msgs[i] = fakeJSMsg{name: string(rune('a' + i))}
		q.push(msgs[i])
	}
	ctx := context.Background()
	// A full batch comes at once, oldest first; the rest waits.
	if got := q.collect(ctx, nil, 5, time.Hour, timer); len(got) != 5 || got[0] != msgs[0] || got[4] != msgs[4] {
		t.Fatalf("first batch = %v", got)
	}
	// A short batch waits the linger for more, and takes what came.
	go func() { time.Sleep(10 * time.Millisecond); q.push(fakeJSMsg{name: "late"}) }()
	start := time.Now()
	got := q.collect(ctx, nil, 5, 200*time.Millisecond, timer)
	if len(got) != 3 || got[2].(fakeJSMsg).name != "late" || time.Since(start) < 200*time.Millisecond {
		t.Fatalf("second batch = %v after %v", got, time.Since(start))
	}
	// Nothing there: collect waits until stopped.
	stopped := make(chan struct{})
	close(stopped)
	if got := q.collect(ctx, stopped, 5, 0, timer); got != nil {
		t.Fatalf("collect on a stopped, empty queue = %v", got)
	}
	q.push(msgs[0])
	if left := q.close(); len(left) != 1 || q.push(msgs[1]) {
		t.Fatalf("close returned %v; push after close must refuse", left)
	}
}

func TestCollectFromChannel(t *testing.T) {
	in := make(chan int, 10)
	for i := 1; i <= 4; i++ {
		in <- i
	}
	timer := newStoppedTimer()
	if got := collect(context.Background(), in, 0, 3, time.Hour, timer); len(got) != 3 || got[0] != 0 || got[2] != 2 {
		t.Fatalf("batch = %v", got)
	}
	// linger 0: what is there now, without waiting.
	if got := collect(context.Background(), in, 9, 10, 0, timer); len(got) != 3 || got[2] != 4 {
		t.Fatalf("batch = %v", got)
	}
}

// seqMsg is a delivery of stream sequence seq.
type seqMsg struct {
	jetstream.Msg
	seq, delivery uint64
}

func (m seqMsg) Metadata() (*jetstream.MsgMetadata, error) {
	return &jetstream.MsgMetadata{Sequence: jetstream.SequencePair{Stream: m.seq}, NumDelivered: m.delivery}, nil
}

// Redeliveries of messages still queued replace them: the queue stays at
// one entry per message however long the route is stuck.
func TestMsgQueueKeepsOneDeliveryPerMessage(t *testing.T) {
	q := newMsgQueue()
	for delivery := uint64(1); delivery <= 50; delivery++ {
		for seq := uint64(1); seq <= 10; seq++ {
			q.push(seqMsg{seq: seq, delivery: delivery})
		}
	}
	got := q.take(nil, 100)
	if len(got) != 10 {
		t.Fatalf("%d queued deliveries for 10 messages", len(got))
	}
	for i, m := range got {
		sm := m.(seqMsg)
		if sm.seq != uint64(i+1) || sm.delivery != 50 {
			t.Fatalf("entry %d is seq %d delivery %d, want seq %d delivery 50 (in order, newest delivery)", i, sm.seq, sm.delivery, i+1)
		}
	}
	// After a take, positions still line up.
	for seq := uint64(1); seq <= 4; seq++ {
		q.push(seqMsg{seq: seq, delivery: 1})
	}
	_ = q.take(nil, 2)
	q.push(seqMsg{seq: 4, delivery: 2})
	rest := q.take(nil, 10)
	if len(rest) != 2 || rest[0].(seqMsg).seq != 3 || rest[1].(seqMsg).seq != 4 || rest[1].(seqMsg).delivery != 2 {
		t.Fatalf("after a partial take: %+v", rest)
	}
}

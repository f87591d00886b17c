package server

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirmq/weir/core/log"
	"github.com/weirmq/weir/core/record"
)

// fetchRespSegment is a real segment file of record batches for the tests.
type fetchRespSegment struct {
	file    log.File
	data    []byte  // what was written to the file
	batches []int64 // position of each batch, then the file's length
}

// newFetchRespSegment writes n batches of recs records each, offsets from
// base, to a new file in dir and opens it read-only.
func newFetchRespSegment(tb testing.TB, dir string, base int64, n, recs, valueSize int) *fetchRespSegment {
	tb.Helper()
	seg := &fetchRespSegment{}
	value := make([]byte, valueSize)
	for i := range n {
		b := record.NewBuilder(record.BuilderOptions{BaseOffset: base})
		for r := range recs {
			rand.Read(value)
			b.Append(fmt.Appendf(nil, "key-%d-%d", i, r), value, 1_700_000_000_000+int64(i*recs+r), nil)
		}
		batch, err := b.Build(nil)
		if err != nil {
			tb.Fatal(err)
		}
		seg.batches = append(seg.batches, int64(len(seg.data)))
		seg.data = append(seg.data, batch...)
		base += int64(recs)
	}
	seg.batches = append(seg.batches, int64(len(seg.data)))
	path := filepath.Join(dir, fmt.Sprintf("%020d.log", base))
	if err := os.WriteFile(path, seg.data, 0o644); err != nil {
		tb.Fatal(err)
	}
	f, err := log.OSFS{}.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { f.Close() })
	seg.file = f
	return seg
}

// slice returns batches [from, to) of the segment as a log.Slice.
func (s *fetchRespSegment) slice(from, to int) log.Slice {
	return log.Slice{File: s.file, Pos: s.batches[from], Len: s.batches[to] - s.batches[from]}
}

// fetchRespFixture is a response using every feature, with what its record
// fields must hold on the wire.
type fetchRespFixture struct {
	resp     *fetchResp
	contents map[log.File][]byte
}

func newFetchRespFixture(tb testing.TB) *fetchRespFixture {
	dir := tb.TempDir()
	segA := newFetchRespSegment(tb, dir, 0, 5, 3, 100)
	segB := newFetchRespSegment(tb, dir, 15, 4, 2, 300)
	segC := newFetchRespSegment(tb, dir, 1000, 3, 10, 50)
	mem := record.NewBuilder(record.BuilderOptions{BaseOffset: 42})
	mem.Append([]byte("k"), []byte("in memory"), 1_700_000_000_000, nil)
	memBatch, err := mem.Build(nil)
	if err != nil {
		tb.Fatal(err)
	}
	rack := "rack-b"

	p0 := newFetchRespPartition(0) // file slices across two segments, aborted transactions
	p0.HighWatermark, p0.LastStableOffset, p0.LogStartOffset = 23, 20, 0
	p0.Slices = []log.Slice{segA.slice(1, 5), segB.slice(0, 3)}
	p0.AbortedTransactions = []fetchRespAbortedTxn{{ProducerID: 7, FirstOffset: 4}, {ProducerID: 9, FirstOffset: 16}}
	p0.DivergingEpoch = &fetchRespDivergingEpoch{Epoch: -1, EndOffset: -1} // Kafka's default: not sent

	p1 := newFetchRespPartition(1) // in-memory records, empty aborted list, diverging epoch
	p1.HighWatermark, p1.LastStableOffset, p1.LogStartOffset = 43, 43, 40
	p1.Records = memBatch
	p1.AbortedTransactions = []fetchRespAbortedTxn{}
	p1.DivergingEpoch = &fetchRespDivergingEpoch{Epoch: 3, EndOffset: 39}

	p2 := newFetchRespPartition(2) // OFFSET_OUT_OF_RANGE, empty records
	p2.ErrorCode = 1
	p2.HighWatermark, p2.LastStableOffset, p2.LogStartOffset = 100, 100, 50

	p3 := newFetchRespPartition(3) // NOT_LEADER_OR_FOLLOWER: null records, current leader, preferred replica
	p3.ErrorCode = 6
	p3.HighWatermark = -1
	p3.RecordsNull = true
	p3.PreferredReadReplica = 2
	p3.CurrentLeader = &fetchRespCurrentLeader{LeaderID: 2, LeaderEpoch: 5}
	p3.DivergingEpoch = &fetchRespDivergingEpoch{Epoch: 1, EndOffset: 1 << 40}

	q0 := newFetchRespPartition(7) // a whole segment, with an empty slice in the middle
	q0.HighWatermark, q0.LastStableOffset, q0.LogStartOffset = 1030, 1030, 1000
	q0.Slices = []log.Slice{segC.slice(0, 1), {File: segC.file, Pos: segC.batches[1]}, segC.slice(1, 3)}
	q0.CurrentLeader = &fetchRespCurrentLeader{LeaderID: -1, LeaderEpoch: -1} // default: not sent

	return &fetchRespFixture{
		resp: &fetchResp{
			ThrottleMillis: 25,
			ErrorCode:      71,
			SessionID:      123456789,
			Topics: []fetchRespTopic{
				{Name: "orders", TopicID: [16]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, Partitions: []fetchRespPartition{p0, p1, p2, p3}},
				{Name: "events", TopicID: [16]byte{0xff, 15: 0xee}, Partitions: []fetchRespPartition{q0}},
				{Name: strings.Repeat("x", 200), TopicID: [16]byte{3: 1}}, // no partitions
			},
			NodeEndpoints: []fetchRespNodeEndpoint{
				{NodeID: 1, Host: "broker-1.example", Port: 9092},
				{NodeID: 2, Host: "broker-2.example", Port: 19092, Rack: &rack},
			},
		},
		contents: map[log.File][]byte{segA.file: segA.data, segB.file: segB.data, segC.file: segC.data},
	}
}

// records returns what p's RecordBatches must hold, nil for null.
func (f *fetchRespFixture) records(p *fetchRespPartition) []byte {
	if p.RecordsNull {
		return nil
	}
	out := append([]byte{}, p.Records...)
	for _, s := range p.Slices {
		out = append(out, f.contents[s.File][s.Pos:s.Pos+s.Len]...)
	}
	return out
}

// kmsgFrame encodes the fixture with kmsg, as Kafka would frame it, for a
// byte-for-byte comparison.
func (f *fetchRespFixture) kmsgFrame(version int16, correlationID int32) []byte {
	r := f.resp
	k := kmsg.NewFetchResponse()
	k.Version = version
	k.ThrottleMillis, k.ErrorCode, k.SessionID = r.ThrottleMillis, r.ErrorCode, r.SessionID
	for _, t := range r.Topics {
		kt := kmsg.NewFetchResponseTopic()
		kt.Topic, kt.TopicID = t.Name, t.TopicID
		for i := range t.Partitions {
			p := &t.Partitions[i]
			kp := kmsg.NewFetchResponseTopicPartition()
			kp.Partition, kp.ErrorCode, kp.HighWatermark = p.Partition, p.ErrorCode, p.HighWatermark
			kp.LastStableOffset, kp.LogStartOffset, kp.PreferredReadReplica = p.LastStableOffset, p.LogStartOffset, p.PreferredReadReplica
			if p.AbortedTransactions != nil {
				kp.AbortedTransactions = []kmsg.FetchResponseTopicPartitionAbortedTransaction{}
				for _, a := range p.AbortedTransactions {
					ka := kmsg.NewFetchResponseTopicPartitionAbortedTransaction()
					ka.ProducerID, ka.FirstOffset = a.ProducerID, a.FirstOffset
					kp.AbortedTransactions = append(kp.AbortedTransactions, ka)
				}
			}
			kp.RecordBatches = f.records(p)
			if d := p.DivergingEpoch; d != nil {
				kp.DivergingEpoch.Epoch, kp.DivergingEpoch.EndOffset = d.Epoch, d.EndOffset
			}
			if l := p.CurrentLeader; l != nil {
				kp.CurrentLeader.LeaderID, kp.CurrentLeader.LeaderEpoch = l.LeaderID, l.LeaderEpoch
			}
			kt.Partitions = append(kt.Partitions, kp)
		}
		k.Topics = append(k.Topics, kt)
	}
	if version >= fetchRespNodeEndpointsVersion {
		for _, n := range r.NodeEndpoints {
			kb := kmsg.NewFetchResponseBroker()
			kb.NodeID, kb.Host, kb.Port, kb.Rack = n.NodeID, n.Host, n.Port, n.Rack
			k.Brokers = append(k.Brokers, kb)
		}
	}
	frame := binary.BigEndian.AppendUint32(make([]byte, 4), uint32(correlationID))
	if version >= fetchRespFlexibleVersion {
		frame = append(frame, 0)
	}
	frame = k.AppendTo(frame)
	binary.BigEndian.PutUint32(frame, uint32(len(frame)-4))
	return frame
}

// check compares a decoded response with the fixture, field by field.
func (f *fetchRespFixture) check(t *testing.T, version int16, got *kmsg.FetchResponse) {
	t.Helper()
	want := f.resp
	if got.ThrottleMillis != want.ThrottleMillis {
		t.Errorf("ThrottleMillis = %d, want %d", got.ThrottleMillis, want.ThrottleMillis)
	}
	if version >= 7 && (got.ErrorCode != want.ErrorCode || got.SessionID != want.SessionID) {
		t.Errorf("ErrorCode, SessionID = %d, %d, want %d, %d", got.ErrorCode, got.SessionID, want.ErrorCode, want.SessionID)
	}
	if len(got.Topics) != len(want.Topics) {
		t.Fatalf("%d topics, want %d", len(got.Topics), len(want.Topics))
	}
	for i := range want.Topics {
		wt, gt := &want.Topics[i], &got.Topics[i]
		if version < fetchRespTopicIDVersion && gt.Topic != wt.Name {
			t.Errorf("topic %d: name %q, want %q", i, gt.Topic, wt.Name)
		}
		if version >= fetchRespTopicIDVersion && (gt.TopicID != wt.TopicID || gt.Topic != "") {
			t.Errorf("topic %d: ID %x name %q, want ID %x and no name", i, gt.TopicID, gt.Topic, wt.TopicID)
		}
		if len(gt.Partitions) != len(wt.Partitions) {
			t.Fatalf("topic %d: %d partitions, want %d", i, len(gt.Partitions), len(wt.Partitions))
		}
		for j := range wt.Partitions {
			f.checkPartition(t, version, fmt.Sprintf("topic %d partition %d", i, j), &wt.Partitions[j], &gt.Partitions[j])
		}
	}
	if got.UnknownTags.Len() != 0 {
		t.Errorf("%d unknown tagged fields at the top level", got.UnknownTags.Len())
	}
	if version < fetchRespNodeEndpointsVersion {
		if len(got.Brokers) != 0 {
			t.Errorf("NodeEndpoints %+v before v16", got.Brokers)
		}
		return
	}
	if len(got.Brokers) != len(want.NodeEndpoints) {
		t.Fatalf("%d node endpoints, want %d", len(got.Brokers), len(want.NodeEndpoints))
	}
	for i, w := range want.NodeEndpoints {
		g := got.Brokers[i]
		if g.NodeID != w.NodeID || g.Host != w.Host || g.Port != w.Port || (g.Rack == nil) != (w.Rack == nil) || (w.Rack != nil && *g.Rack != *w.Rack) {
			t.Errorf("node endpoint %d = %d %s:%d rack %v, want %+v", i, g.NodeID, g.Host, g.Port, g.Rack, w)
		}
	}
}

func (f *fetchRespFixture) checkPartition(t *testing.T, version int16, where string, w *fetchRespPartition, g *kmsg.FetchResponseTopicPartition) {
	t.Helper()
	if g.Partition != w.Partition || g.ErrorCode != w.ErrorCode || g.HighWatermark != w.HighWatermark || g.LastStableOffset != w.LastStableOffset {
		t.Errorf("%s: partition, error, HW, LSO = %d %d %d %d, want %d %d %d %d", where,
			g.Partition, g.ErrorCode, g.HighWatermark, g.LastStableOffset, w.Partition, w.ErrorCode, w.HighWatermark, w.LastStableOffset)
	}
	if version >= 5 && g.LogStartOffset != w.LogStartOffset {
		t.Errorf("%s: LogStartOffset = %d, want %d", where, g.LogStartOffset, w.LogStartOffset)
	}
	if version >= 11 && g.PreferredReadReplica != w.PreferredReadReplica {
		t.Errorf("%s: PreferredReadReplica = %d, want %d", where, g.PreferredReadReplica, w.PreferredReadReplica)
	}
	if (g.AbortedTransactions == nil) != (w.AbortedTransactions == nil) || len(g.AbortedTransactions) != len(w.AbortedTransactions) {
		t.Errorf("%s: AbortedTransactions = %+v (nil %t), want %+v (nil %t)", where,
			g.AbortedTransactions, g.AbortedTransactions == nil, w.AbortedTransactions, w.AbortedTransactions == nil)
	} else {
		for k, a := range w.AbortedTransactions {
			if ga := g.AbortedTransactions[k]; ga.ProducerID != a.ProducerID || ga.FirstOffset != a.FirstOffset {
				t.Errorf("%s: aborted transaction %d = %d@%d, want %d@%d", where, k, ga.ProducerID, ga.FirstOffset, a.ProducerID, a.FirstOffset)
			}
		}
	}
	wantRecs := f.records(w)
	if (g.RecordBatches == nil) != (wantRecs == nil) || !bytes.Equal(g.RecordBatches, wantRecs) {
		t.Errorf("%s: %d record bytes (nil %t), want %d (nil %t), or they differ", where,
			len(g.RecordBatches), g.RecordBatches == nil, len(wantRecs), wantRecs == nil)
	}
	wantDiv := fetchRespDivergingEpoch{Epoch: -1, EndOffset: -1}
	if version >= fetchRespFlexibleVersion && w.DivergingEpoch != nil {
		wantDiv = *w.DivergingEpoch
	}
	if g.DivergingEpoch.Epoch != wantDiv.Epoch || g.DivergingEpoch.EndOffset != wantDiv.EndOffset {
		t.Errorf("%s: DivergingEpoch = %+v, want %+v", where, g.DivergingEpoch, wantDiv)
	}
	wantLeader := fetchRespCurrentLeader{LeaderID: -1, LeaderEpoch: -1}
	if version >= fetchRespFlexibleVersion && w.CurrentLeader != nil {
		wantLeader = *w.CurrentLeader
	}
	if g.CurrentLeader.LeaderID != wantLeader.LeaderID || g.CurrentLeader.LeaderEpoch != wantLeader.LeaderEpoch {
		t.Errorf("%s: CurrentLeader = %+v, want %+v", where, g.CurrentLeader, wantLeader)
	}
	if g.UnknownTags.Len() != 0 {
		t.Errorf("%s: %d unknown tagged fields", where, g.UnknownTags.Len())
	}
}

// fetchRespTCPPair returns both ends of a loopback TCP connection.
func fetchRespTCPPair(tb testing.TB) (server, client *net.TCPConn) {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		tb.Fatal(err)
	}
	s, err := ln.Accept()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close(); s.Close() })
	return s.(*net.TCPConn), c.(*net.TCPConn)
}

// fetchRespReadFrame reads one size-prefixed frame, prefix included.
func fetchRespReadFrame(r io.Reader) ([]byte, error) {
	var size [4]byte
	if _, err := io.ReadFull(r, size[:]); err != nil {
		return nil, err
	}
	frame := make([]byte, 4+binary.BigEndian.Uint32(size[:]))
	copy(frame, size[:])
	_, err := io.ReadFull(r, frame[4:])
	return frame, err
}

// fetchRespDecode strips the size prefix and response header from frame and
// decodes the body with kmsg.
func fetchRespDecode(t *testing.T, version int16, correlationID int32, frame []byte) *kmsg.FetchResponse {
	t.Helper()
	if got := binary.BigEndian.Uint32(frame); int(got) != len(frame)-4 {
		t.Fatalf("size prefix %d, frame of %d bytes after it", got, len(frame)-4)
	}
	body := frame[4:]
	if got := int32(binary.BigEndian.Uint32(body)); got != correlationID {
		t.Fatalf("correlation id %d, want %d", got, correlationID)
	}
	body = body[4:]
	if version >= fetchRespFlexibleVersion {
		tags, n := binary.Uvarint(body)
		if n != 1 || tags != 0 {
			t.Fatalf("response header tag buffer: %d tags (%d bytes), want an empty one", tags, n)
		}
		body = body[1:]
	}
	resp := kmsg.FetchResponse{Version: version}
	if err := resp.ReadFrom(body); err != nil {
		t.Fatalf("kmsg cannot decode the v%d response: %v", version, err)
	}
	return &resp
}

// fetchRespSendAndRead sends w from one end of a connection and reads the
// frame at the other.
func fetchRespSendAndRead(t *testing.T, w *fetchRespWire, dst io.Writer, src io.Reader) (frame []byte, written, sendfiled int64) {
	t.Helper()
	type result struct {
		written, sendfiled int64
		err                error
	}
	done := make(chan result, 1)
	go func() {
		n, s, err := w.send(dst)
		done <- result{n, s, err}
	}()
	frame, err := fetchRespReadFrame(src)
	if err != nil {
		t.Fatalf("reading the frame: %v", err)
	}
	res := <-done
	if res.err != nil {
		t.Fatalf("send: %v", res.err)
	}
	return frame, res.written, res.sendfiled
}

func TestFetchRespWireVersions(t *testing.T) {
	fx := newFetchRespFixture(t)
	server, client := fetchRespTCPPair(t)
	var w fetchRespWire // reused across versions and paths
	for version := int16(fetchRespMinVersion); version <= fetchRespMaxVersion; version++ {
		t.Run(fmt.Sprintf("v%d", version), func(t *testing.T) {
			correlationID := int32(1000 + version)
			if err := w.encode(version, correlationID, fx.resp); err != nil {
				t.Fatal(err)
			}
			want := fx.kmsgFrame(version, correlationID)
			if w.size() != int64(len(want)) {
				t.Fatalf("size() = %d, kmsg encodes %d bytes", w.size(), len(want))
			}
			if got := w.sendfileBytes(); got != fetchRespFixtureFileBytes(fx) {
				t.Fatalf("sendfileBytes() = %d, want %d", got, fetchRespFixtureFileBytes(fx))
			}

			t.Run("sendfile", func(t *testing.T) {
				frame, written, sendfiled := fetchRespSendAndRead(t, &w, server, client)
				if written != w.size() || sendfiled != w.sendfileBytes() {
					t.Errorf("send wrote %d bytes, %d by sendfile; want %d, %d", written, sendfiled, w.size(), w.sendfileBytes())
				}
				if !bytes.Equal(frame, want) {
					t.Errorf("frame differs from kmsg's encoding:\n got %x\nwant %x", frame, want)
				}
				fx.check(t, version, fetchRespDecode(t, version, correlationID, frame))
			})
			t.Run("copy", func(t *testing.T) {
				pw, pr := net.Pipe()
				defer pw.Close()
				defer pr.Close()
				frame, written, sendfiled := fetchRespSendAndRead(t, &w, pw, pr)
				if written != w.size() || sendfiled != 0 {
					t.Errorf("send wrote %d bytes, %d by sendfile; want %d, 0", written, sendfiled, w.size())
				}
				if !bytes.Equal(frame, want) {
					t.Errorf("frame differs from kmsg's encoding:\n got %x\nwant %x", frame, want)
				}
				fx.check(t, version, fetchRespDecode(t, version, correlationID, frame))
			})
		})
	}
}

func fetchRespFixtureFileBytes(fx *fetchRespFixture) int64 {
	var n int64
	for _, t := range fx.resp.Topics {
		for _, p := range t.Partitions {
			for _, s := range p.Slices {
				n += s.Len
			}
		}
	}
	return n
}

// fetchRespOneSlice returns a v16 response with a single partition sending s.
func fetchRespOneSlice(s log.Slice) *fetchResp {
	p := newFetchRespPartition(0)
	p.Slices = []log.Slice{s}
	return &fetchResp{Topics: []fetchRespTopic{{Name: "t", Partitions: []fetchRespPartition{p}}}}
}

// A segment truncated after the response was encoded fails the send with
// errFetchRespShortFile, on both paths, and nothing is padded.
func TestFetchRespWireShortFile(t *testing.T) {
	for _, path := range []string{"sendfile", "copy"} {
		t.Run(path, func(t *testing.T) {
			seg := newFetchRespSegment(t, t.TempDir(), 0, 40, 10, 1000) // ~400 KB, more than one copy buffer
			var w fetchRespWire
			if err := w.encode(16, 1, fetchRespOneSlice(seg.slice(0, 40))); err != nil {
				t.Fatal(err)
			}
			cut := seg.batches[30] + 7
			if err := os.Truncate(seg.file.Name(), cut); err != nil {
				t.Fatal(err)
			}
			var dst io.Writer
			var src io.Reader
			if path == "sendfile" {
				dst, src = fetchRespTCPPair(t)
			} else {
				pw, pr := net.Pipe()
				t.Cleanup(func() { pw.Close(); pr.Close() })
				dst, src = pw, pr
			}
			got := make(chan int64, 1)
			go func() {
				n, _ := io.Copy(io.Discard, src)
				got <- n
			}()
			written, sendfiled, err := w.send(dst)
			if !errors.Is(err, errFetchRespShortFile) {
				t.Fatalf("send: %v, want errFetchRespShortFile", err)
			}
			dst.(io.Closer).Close()
			if n := <-got; n != written {
				t.Errorf("reader got %d bytes, send says it wrote %d", n, written)
			}
			header := w.size() - w.sendfileBytes()
			if written >= w.size() || written > header+cut {
				t.Errorf("wrote %d of a %d-byte response whose file part was cut to %d", written, w.size(), cut)
			}
			if path == "sendfile" && sendfiled != cut {
				t.Errorf("sendfile sent %d bytes, the file holds %d", sendfiled, cut)
			}
			if path == "copy" && sendfiled != 0 {
				t.Errorf("sendfile sent %d bytes on the copy path", sendfiled)
			}
			t.Log(err)
		})
	}
}

// A response larger than the socket buffers, read slowly, makes sendfile
// meet EAGAIN and wait in the netpoller; every byte still arrives in order.
func TestFetchRespWireSendfileBackpressure(t *testing.T) {
	seg := newFetchRespSegment(t, t.TempDir(), 0, 64, 16, 16<<10) // ~16 MiB
	server, client := fetchRespTCPPair(t)
	p := newFetchRespPartition(0)
	p.Slices = []log.Slice{seg.slice(0, 20), seg.slice(20, 21), seg.slice(21, 64)}
	resp := &fetchResp{Topics: []fetchRespTopic{{Name: "big", Partitions: []fetchRespPartition{p}}}}
	var w fetchRespWire
	if err := w.encode(11, 9, resp); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	var written, sendfiled int64
	go func() {
		var err error
		written, sendfiled, err = w.send(server)
		done <- err
	}()
	time.Sleep(50 * time.Millisecond) // let the socket buffers fill
	frame, err := fetchRespReadFrame(&fetchRespSlowReader{r: client})
	if err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if written != w.size() || sendfiled != int64(len(seg.data)) {
		t.Errorf("wrote %d bytes, %d by sendfile; want %d, %d", written, sendfiled, w.size(), len(seg.data))
	}
	resp2 := fetchRespDecode(t, 11, 9, frame)
	if got := resp2.Topics[0].Partitions[0].RecordBatches; !bytes.Equal(got, seg.data) {
		t.Errorf("records differ from the file: %d bytes, want %d", len(got), len(seg.data))
	}
}

// fetchRespSlowReader reads in small pieces.
type fetchRespSlowReader struct{ r io.Reader }

func (s *fetchRespSlowReader) Read(p []byte) (int, error) { return s.r.Read(p[:min(len(p), 3000)]) }

// sendfile waiting on a full socket honours the connection's write deadline.
func TestFetchRespWireSendfileDeadline(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sparse.log")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(256 << 20); err != nil { // larger than any loopback buffers
		t.Fatal(err)
	}
	server, _ := fetchRespTCPPair(t) // the client never reads
	var w fetchRespWire
	if err := w.encode(12, 1, fetchRespOneSlice(log.Slice{File: f, Len: 256 << 20})); err != nil {
		t.Fatal(err)
	}
	server.SetWriteDeadline(time.Now().Add(200 * time.Millisecond))
	start := time.Now()
	written, sendfiled, err := w.send(server)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("send: %v, want a deadline error", err)
	}
	if sendfiled == 0 || sendfiled >= 256<<20 || written != w.parts[0].n+sendfiled {
		t.Errorf("wrote %d bytes, %d by sendfile, before the deadline", written, sendfiled)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("send returned after %v", d)
	}
}

func TestFetchRespWireEncodeErrors(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "x.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	part := func(edit func(p *fetchRespPartition)) *fetchResp {
		p := newFetchRespPartition(0)
		edit(&p)
		return &fetchResp{Topics: []fetchRespTopic{{Name: "t", Partitions: []fetchRespPartition{p}}}}
	}
	for _, tc := range []struct {
		name    string
		version int16
		resp    *fetchResp
		want    string
	}{
		{"version 3", 3, &fetchResp{}, "version 3"},
		{"version 19", 19, &fetchResp{}, "version 19"},
		{"files and memory", 12, part(func(p *fetchRespPartition) {
			p.Slices, p.Records = []log.Slice{{File: f, Len: 10}}, []byte{1}
		}), "both in files and in memory"},
		{"null with records", 4, part(func(p *fetchRespPartition) { p.Records, p.RecordsNull = []byte{1}, true }), "null records"},
		{"negative length", 4, part(func(p *fetchRespPartition) { p.Slices = []log.Slice{{File: f, Len: -1}} }), "bad file slice"},
		{"no file", 4, part(func(p *fetchRespPartition) { p.Slices = []log.Slice{{Len: 5}} }), "bad file slice"},
		{"long name", 4, &fetchResp{Topics: []fetchRespTopic{{Name: strings.Repeat("n", 1<<15)}}}, "longer than Kafka's"},
		{"long host", 16, &fetchResp{NodeEndpoints: []fetchRespNodeEndpoint{{Host: strings.Repeat("h", 1<<15)}}}, "longer than Kafka's"},
		{"over 2 GiB", 4, part(func(p *fetchRespPartition) {
			p.Slices = []log.Slice{{File: f, Len: 1 << 30}, {File: f, Len: 1 << 30}}
		}), "int32"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var w fetchRespWire
			err := w.encode(tc.version, 1, tc.resp)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("encode: %v, want an error containing %q", err, tc.want)
			}
			if w.size() != 0 || len(w.parts) != 0 {
				t.Errorf("a failed encode left %d bytes in %d parts", w.size(), len(w.parts))
			}
		})
	}
}

// An empty response is the smallest frame: header and empty arrays.
func TestFetchRespWireEmpty(t *testing.T) {
	var w fetchRespWire
	for _, tc := range []struct {
		version int16
		want    []byte
	}{
		{4, []byte{0, 0, 0, 12, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0}},
		{7, []byte{0, 0, 0, 18, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}},
		{12, []byte{0, 0, 0, 17, 0, 0, 0, 5, 0 /* header tags */, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 /* no topics */, 0 /* tags */}},
	} {
		if err := w.encode(tc.version, 5, &fetchResp{}); err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		if _, _, err := w.send(&buf); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf.Bytes(), tc.want) {
			t.Errorf("v%d: %x, want %x", tc.version, buf.Bytes(), tc.want)
		}
	}
}

// fetchRespBenchResponse is 6 partitions of 1 MiB of file slices each.
func fetchRespBenchResponse(tb testing.TB) *fetchResp {
	path := filepath.Join(tb.TempDir(), "00000000000000000000.log")
	data := make([]byte, 6<<20)
	rand.Read(data)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		tb.Fatal(err)
	}
	f, err := log.OSFS{}.OpenFile(path, os.O_RDONLY, 0)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { f.Close() })
	resp := &fetchResp{ThrottleMillis: 0, SessionID: 1}
	for ti := range 2 {
		topic := fetchRespTopic{Name: fmt.Sprintf("bench-%d", ti), TopicID: [16]byte{byte(ti)}}
		for pi := range 3 {
			p := newFetchRespPartition(int32(pi))
			p.HighWatermark, p.LastStableOffset, p.LogStartOffset = 1<<20, 1<<20, 0
			pos := int64(ti*3+pi) << 20
			p.Slices = []log.Slice{{File: f, Pos: pos, Len: 1 << 20}}
			topic.Partitions = append(topic.Partitions, p)
		}
		resp.Topics = append(resp.Topics, topic)
	}
	return resp
}

func TestFetchRespWireEncodeAllocs(t *testing.T) {
	resp := fetchRespBenchResponse(t)
	fx := newFetchRespFixture(t)
	var w fetchRespWire
	for _, version := range []int16{4, 11, 12, 16, 18} {
		for _, r := range []*fetchResp{resp, fx.resp} {
			if err := w.encode(version, 1, r); err != nil { // grow the buffers
				t.Fatal(err)
			}
			allocs := testing.AllocsPerRun(100, func() {
				if err := w.encode(version, 1, r); err != nil {
					t.Fatal(err)
				}
			})
			if allocs != 0 {
				t.Errorf("v%d: encode into a reused wire allocates %.1f times", version, allocs)
			}
		}
	}
}

func BenchmarkFetchRespWireEncode(b *testing.B) {
	resp := fetchRespBenchResponse(b)
	for _, version := range []int16{11, 16} {
		b.Run(fmt.Sprintf("v%d", version), func(b *testing.B) {
			var w fetchRespWire
			b.ReportAllocs()
			for b.Loop() {
				if err := w.encode(version, 1, resp); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(w.size()), "response-bytes")
		})
	}
}

// BenchmarkFetchRespWireSend sends the 6 MiB response over loopback TCP by
// sendfile and by the pread+Write fallback.
func BenchmarkFetchRespWireSend(b *testing.B) {
	resp := fetchRespBenchResponse(b)
	for _, path := range []string{"sendfile", "copy"} {
		b.Run(path, func(b *testing.B) {
			server, client := fetchRespTCPPair(b)
			go io.Copy(io.Discard, client)
			var dst io.Writer = server
			if path == "copy" {
				dst = struct{ io.Writer }{server} // hides *net.TCPConn
			}
			var w fetchRespWire
			if err := w.encode(16, 1, resp); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(w.size())
			b.ReportAllocs()
			for b.Loop() {
				if err := w.encode(16, 1, resp); err != nil {
					b.Fatal(err)
				}
				if _, _, err := w.send(dst); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

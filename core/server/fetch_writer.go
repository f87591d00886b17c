package server

// The zero-copy Fetch response writer (ARCHITECTURE §2, Fetch). The Fetch
// handler describes the response in a fetchResp; fetchRespWire.encode turns
// it into the exact Kafka wire bytes of a FetchResponse, response header and
// size prefix included, as a list of parts: ranges of an in-memory buffer
// interleaved with byte ranges of segment files that are never read into
// memory. fetchRespWire.send writes the memory parts with Write and the file
// parts with sendfile(2) at explicit offsets, or, when the destination is
// not a *net.TCPConn (TLS, net.Pipe), with pread into a pooled buffer and
// Write.
//
// This is the one response Weir encodes by hand; every other response goes
// through kmsg. The layout below follows Kafka's FetchResponse schema,
// versions 4 to 18 (the response body is the same in 17 and 18; v18 changed
// only the request):
//
//	ThrottleMillis int32
//	ErrorCode int16, SessionID int32                      v7+
//	Topics [ ]
//	  Topic string                                        v4-v12
//	  TopicID uuid                                        v13+
//	  Partitions [ ]
//	    Partition int32, ErrorCode int16, HighWatermark int64,
//	    LastStableOffset int64
//	    LogStartOffset int64                              v5+
//	    AbortedTransactions nullable [ ProducerID int64, FirstOffset int64 ]
//	    PreferredReadReplica int32                        v11+
//	    RecordBatches nullable bytes
//	    tag 0 DivergingEpoch {Epoch int32, EndOffset int64}  v12+
//	    tag 1 CurrentLeader {LeaderID int32, LeaderEpoch int32}  v12+
//	tag 0 NodeEndpoints [ NodeID int32, Host string, Port int32,
//	                      Rack nullable string ]          v16+
//
// From v12 the message is flexible: arrays, strings and bytes carry compact
// (unsigned varint, length+1) lengths, every struct ends with a tag buffer,
// and the response header (correlation id) is followed by an empty one.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/weirmq/weir/core/log"
)

// Versions of the FetchResponse the writer knows.
const (
	fetchRespMinVersion           = 4  // record batches (magic 2), LastStableOffset, AbortedTransactions
	fetchRespMaxVersion           = 18 // kmsg v1.15.0's newest
	fetchRespFlexibleVersion      = 12 // compact encodings, tagged fields
	fetchRespTopicIDVersion       = 13 // TopicID replaces the topic name
	fetchRespNodeEndpointsVersion = 16
)

// errFetchRespShortFile reports a segment file that ended before the bytes a
// response promised (the segment was truncated after the response was
// encoded). The size prefix already sent can no longer be honoured: the
// caller must close the connection.
var errFetchRespShortFile = errors.New("fetch response: segment file is shorter than the response promised")

// fetchResp describes one FetchResponse. The Fetch handler fills it in; see
// fetchRespWire.encode.
type fetchResp struct {
	ThrottleMillis int32
	ErrorCode      int16 // v7+
	SessionID      int32 // v7+
	Topics         []fetchRespTopic
	// NodeEndpoints are the brokers named by partitions' CurrentLeader
	// (KIP-951). Written from v16; silently left out of older versions.
	NodeEndpoints []fetchRespNodeEndpoint
}

// fetchRespTopic is one topic of a fetchResp. Versions before 13 carry the
// name, later ones the topic ID.
type fetchRespTopic struct {
	Name       string
	TopicID    [16]byte
	Partitions []fetchRespPartition
}

// fetchRespPartition is one partition of a fetchRespTopic. Its zero value is
// not Kafka's default: LastStableOffset, LogStartOffset and
// PreferredReadReplica are -1 when unknown or none, and a zero
// PreferredReadReplica sends the client to broker 0. Start from
// newFetchRespPartition.
//
// The records are Slices (byte ranges of segment files, sent with sendfile)
// or Records (bytes in memory, copied into the encoded response), not both.
// With neither, the partition has an empty record set; RecordsNull sends a
// null one instead.
type fetchRespPartition struct {
	Partition        int32
	ErrorCode        int16
	HighWatermark    int64
	LastStableOffset int64
	LogStartOffset   int64 // v5+
	// AbortedTransactions: nil is sent as a null array (read_uncommitted),
	// an empty non-nil slice as an empty one.
	AbortedTransactions  []fetchRespAbortedTxn
	PreferredReadReplica int32 // v11+

	Slices      []log.Slice
	Records     []byte
	RecordsNull bool

	// Tagged fields, v12+; nil (or Kafka's default, all -1) leaves them out.
	DivergingEpoch *fetchRespDivergingEpoch
	CurrentLeader  *fetchRespCurrentLeader
}

// newFetchRespPartition returns a partition with Kafka's defaults: no error,
// high watermark 0, and -1 for LastStableOffset, LogStartOffset and
// PreferredReadReplica.
func newFetchRespPartition(partition int32) fetchRespPartition {
	return fetchRespPartition{
		Partition:            partition,
		LastStableOffset:     -1,
		LogStartOffset:       -1,
		PreferredReadReplica: -1,
	}
}

// fetchRespAbortedTxn is one aborted transaction in the returned range.
type fetchRespAbortedTxn struct {
	ProducerID  int64
	FirstOffset int64
}

// fetchRespDivergingEpoch tells a follower where its log diverges from the
// leader's (KIP-320): the largest epoch it shares and that epoch's end offset.
type fetchRespDivergingEpoch struct {
	Epoch     int32
	EndOffset int64
}

// fetchRespCurrentLeader names the partition's leader, for a client that
// fetched from a non-leader (KIP-951). -1 for unknown.
type fetchRespCurrentLeader struct {
	LeaderID    int32
	LeaderEpoch int32
}

// fetchRespNodeEndpoint is one broker in NodeEndpoints. Rack nil is null.
type fetchRespNodeEndpoint struct {
	NodeID int32
	Host   string
	Port   int32
	Rack   *string
}

// fetchRespPart is one piece of an encoded response: bytes wire.buf[off:off+n]
// when file is nil, otherwise bytes [off, off+n) of file.
type fetchRespPart struct {
	file log.File
	off  int64
	n    int64
}

// fetchRespWire is an encoded FetchResponse, ready to send. Reuse one (per
// connection, or from a pool) across responses: once its buffers have grown
// to fit, encode allocates nothing.
//
// A fetchRespWire refers to the segment files it will send; call reset once
// it is sent so that an idle wire does not keep them reachable. It is not
// safe for concurrent use.
type fetchRespWire struct {
	buf       []byte          // size prefix, header, and every in-memory byte
	parts     []fetchRespPart // in order; memory parts index buf
	fileBytes int64           // total length of the file parts

	// sendfile state, kept here so that the callback handed to
	// syscall.RawConn.Write is built once per wire rather than per call.
	sf   fetchRespSendfile
	sfFn func(fd uintptr) bool
}

type fetchRespSendfile struct {
	src      int   // segment file descriptor
	pos, end int64 // bytes [pos, end) of src still to send
	err      error
	fallback bool // the kernel cannot sendfile from src: copy the rest
}

// reset forgets the encoded response and drops its references to segment
// files, keeping the buffers for reuse.
func (w *fetchRespWire) reset() {
	clear(w.parts)
	w.parts = w.parts[:0]
	w.buf = w.buf[:0]
	w.fileBytes = 0
	w.sf = fetchRespSendfile{}
}

// size returns the length of the encoded response, size prefix included:
// the number of bytes send writes.
func (w *fetchRespWire) size() int64 { return int64(len(w.buf)) + w.fileBytes }

// sendfileBytes returns how many of the response's bytes are file parts.
func (w *fetchRespWire) sendfileBytes() int64 { return w.fileBytes }

// encode replaces w's content with r encoded as a FetchResponse of the given
// version answering the request with correlationID: size prefix, response
// header, body. It reads no file: the file slices' lengths are trusted, and
// send fails if a file turns out shorter.
//
// Fields the version does not have are left out (topic names from v13, topic
// IDs before, tagged fields before v12, NodeEndpoints before v16). encode
// keeps no reference to r, but w refers to the log.Slice files until reset
// or the next encode.
//
// It returns an error, leaving w reset, for a version outside 4..18, a
// partition with both Slices and Records (or RecordsNull with either), a
// slice with a negative position or length or no file, a string longer than
// Kafka allows, or a response larger than an int32 size prefix allows.
func (w *fetchRespWire) encode(version int16, correlationID int32, r *fetchResp) error {
	w.reset()
	if version < fetchRespMinVersion || version > fetchRespMaxVersion {
		return fmt.Errorf("fetch response: version %d is outside %d..%d", version, fetchRespMinVersion, fetchRespMaxVersion)
	}
	e := fetchRespEncoder{w: w, b: w.buf, flexible: version >= fetchRespFlexibleVersion}
	e.b = append(e.b, 0, 0, 0, 0) // size prefix, filled in below
	e.int32(correlationID)
	if e.flexible {
		e.b = append(e.b, 0) // response header v1: empty tag buffer
	}

	e.int32(r.ThrottleMillis)
	if version >= 7 {
		e.int16(r.ErrorCode)
		e.int32(r.SessionID)
	}
	e.arrayLen(len(r.Topics))
	for i := range r.Topics {
		t := &r.Topics[i]
		if version >= fetchRespTopicIDVersion {
			e.b = append(e.b, t.TopicID[:]...)
		} else {
			e.string(t.Name)
		}
		e.arrayLen(len(t.Partitions))
		for j := range t.Partitions {
			e.partition(version, &t.Partitions[j])
		}
		e.tagBuffer()
	}
	if e.flexible {
		if version >= fetchRespNodeEndpointsVersion && len(r.NodeEndpoints) > 0 {
			e.uvarint(1) // one tagged field
			e.nodeEndpoints(r.NodeEndpoints)
		} else {
			e.tagBuffer()
		}
	}
	e.flushMem()
	w.buf = e.b

	if e.err == nil && w.size()-4 > math.MaxInt32 {
		e.err = fmt.Errorf("fetch response: %d bytes do not fit an int32 size prefix", w.size()-4)
	}
	if e.err != nil {
		w.reset()
		return e.err
	}
	binary.BigEndian.PutUint32(w.buf, uint32(w.size()-4))
	return nil
}

// fetchRespEncoder appends one response to a wire. The first error sticks
// and is reported at the end.
type fetchRespEncoder struct {
	w        *fetchRespWire
	b        []byte // w.buf while encoding
	memStart int    // start of the memory bytes not yet in a part
	flexible bool
	err      error
}

func (e *fetchRespEncoder) fail(format string, args ...any) {
	if e.err == nil {
		e.err = fmt.Errorf("fetch response: "+format, args...)
	}
}

func (e *fetchRespEncoder) int16(v int16) { e.b = binary.BigEndian.AppendUint16(e.b, uint16(v)) }
func (e *fetchRespEncoder) int32(v int32) { e.b = binary.BigEndian.AppendUint32(e.b, uint32(v)) }
func (e *fetchRespEncoder) int64(v int64) { e.b = binary.BigEndian.AppendUint64(e.b, uint64(v)) }

// uvarint appends Kafka's unsigned varint, which is LEB128 like Go's.
func (e *fetchRespEncoder) uvarint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }

// tagBuffer appends an empty tag buffer in flexible versions.
func (e *fetchRespEncoder) tagBuffer() {
	if e.flexible {
		e.b = append(e.b, 0)
	}
}

func (e *fetchRespEncoder) arrayLen(n int) {
	if e.flexible {
		e.uvarint(uint64(n) + 1)
	} else {
		e.int32(int32(n))
	}
}

// nullableArrayLen appends an array length, or null for a nil array.
func (e *fetchRespEncoder) nullableArrayLen(n int, null bool) {
	switch {
	case !null:
		e.arrayLen(n)
	case e.flexible:
		e.uvarint(0)
	default:
		e.int32(-1)
	}
}

func (e *fetchRespEncoder) string(s string) {
	if len(s) > math.MaxInt16 {
		e.fail("string of %d bytes is longer than Kafka's %d", len(s), math.MaxInt16)
		s = ""
	}
	if e.flexible {
		e.uvarint(uint64(len(s)) + 1)
	} else {
		e.int16(int16(len(s)))
	}
	e.b = append(e.b, s...)
}

func (e *fetchRespEncoder) nullableString(s *string) {
	switch {
	case s != nil:
		e.string(*s)
	case e.flexible:
		e.uvarint(0)
	default:
		e.int16(-1)
	}
}

// flushMem closes the memory part running from memStart to the end of the
// buffer, if it is not empty.
func (e *fetchRespEncoder) flushMem() {
	if len(e.b) > e.memStart {
		e.w.parts = append(e.w.parts, fetchRespPart{off: int64(e.memStart), n: int64(len(e.b) - e.memStart)})
		e.memStart = len(e.b)
	}
}

func (e *fetchRespEncoder) partition(version int16, p *fetchRespPartition) {
	e.int32(p.Partition)
	e.int16(p.ErrorCode)
	e.int64(p.HighWatermark)
	e.int64(p.LastStableOffset)
	if version >= 5 {
		e.int64(p.LogStartOffset)
	}
	e.nullableArrayLen(len(p.AbortedTransactions), p.AbortedTransactions == nil)
	for _, a := range p.AbortedTransactions {
		e.int64(a.ProducerID)
		e.int64(a.FirstOffset)
		e.tagBuffer()
	}
	if version >= 11 {
		e.int32(p.PreferredReadReplica)
	}
	e.records(p)
	if !e.flexible {
		return
	}

	diverging := p.DivergingEpoch != nil && *p.DivergingEpoch != (fetchRespDivergingEpoch{Epoch: -1, EndOffset: -1})
	leader := p.CurrentLeader != nil && *p.CurrentLeader != (fetchRespCurrentLeader{LeaderID: -1, LeaderEpoch: -1})
	tags := 0
	if diverging {
		tags++
	}
	if leader {
		tags++
	}
	e.uvarint(uint64(tags))
	if diverging { // tag 0, 13 bytes: int32, int64, empty tag buffer
		e.uvarint(0)
		e.uvarint(4 + 8 + 1)
		e.int32(p.DivergingEpoch.Epoch)
		e.int64(p.DivergingEpoch.EndOffset)
		e.tagBuffer()
	}
	if leader { // tag 1, 9 bytes: int32, int32, empty tag buffer
		e.uvarint(1)
		e.uvarint(4 + 4 + 1)
		e.int32(p.CurrentLeader.LeaderID)
		e.int32(p.CurrentLeader.LeaderEpoch)
		e.tagBuffer()
	}
}

// records appends the partition's RecordBatches field: its length, then the
// bytes themselves (Records) or file parts (Slices).
func (e *fetchRespEncoder) records(p *fetchRespPartition) {
	var n int64
	for _, s := range p.Slices {
		if s.Pos < 0 || s.Len < 0 || (s.File == nil && s.Len > 0) {
			e.fail("partition %d: bad file slice: position %d, length %d, file set %t", p.Partition, s.Pos, s.Len, s.File != nil)
			return
		}
		n += s.Len
	}
	switch {
	case n > 0 && len(p.Records) > 0:
		e.fail("partition %d: records both in files and in memory", p.Partition)
		return
	case p.RecordsNull && (n > 0 || len(p.Records) > 0):
		e.fail("partition %d: null records with %d bytes of them", p.Partition, n+int64(len(p.Records)))
		return
	case n > math.MaxInt32 || len(p.Records) > math.MaxInt32:
		e.fail("partition %d: %d bytes of records do not fit an int32 length", p.Partition, n+int64(len(p.Records)))
		return
	}
	n += int64(len(p.Records))

	switch {
	case p.RecordsNull && e.flexible:
		e.uvarint(0)
	case p.RecordsNull:
		e.int32(-1)
	case e.flexible:
		e.uvarint(uint64(n) + 1)
	default:
		e.int32(int32(n))
	}
	e.b = append(e.b, p.Records...)
	for _, s := range p.Slices {
		if s.Len == 0 {
			continue
		}
		e.flushMem()
		e.w.parts = append(e.w.parts, fetchRespPart{file: s.File, off: s.Pos, n: s.Len})
		e.w.fileBytes += s.Len
	}
}

// nodeEndpoints appends tag 0 of the response, NodeEndpoints, its size first.
func (e *fetchRespEncoder) nodeEndpoints(nodes []fetchRespNodeEndpoint) {
	size := fetchRespUvarintLen(uint64(len(nodes)) + 1)
	for i := range nodes {
		n := &nodes[i]
		size += 4 + fetchRespCompactStringLen(len(n.Host)) + 4 + 1 // NodeID, Host, Port, tag buffer
		if n.Rack == nil {
			size++
		} else {
			size += fetchRespCompactStringLen(len(*n.Rack))
		}
	}
	e.uvarint(0)
	e.uvarint(uint64(size))
	start := len(e.b)
	e.arrayLen(len(nodes))
	for i := range nodes {
		n := &nodes[i]
		e.int32(n.NodeID)
		e.string(n.Host)
		e.int32(n.Port)
		e.nullableString(n.Rack)
		e.tagBuffer()
	}
	if e.err == nil && len(e.b)-start != size {
		e.fail("node endpoints: encoded %d bytes, sized %d", len(e.b)-start, size) // a bug here, not the caller's
	}
}

func fetchRespUvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// fetchRespCompactStringLen is the encoded length of a compact string of n
// bytes; a string too long is encoded as empty (and fails the encode).
func fetchRespCompactStringLen(n int) int {
	if n > math.MaxInt16 {
		n = 0
	}
	return fetchRespUvarintLen(uint64(n)+1) + n
}

// fetchRespSendfileChunk bounds one sendfile call; Linux moves at most
// 0x7ffff000 bytes per call anyway.
const fetchRespSendfileChunk = 1 << 30

// fetchRespCopyBufSize is the size of the buffers that carry file bytes
// through memory when sendfile cannot be used.
const fetchRespCopyBufSize = 64 << 10

var fetchRespCopyBufs = sync.Pool{New: func() any { return new([fetchRespCopyBufSize]byte) }}

// send writes the encoded response to dst, in order. When dst is a
// *net.TCPConn the file parts go with sendfile(2) at explicit offsets (no
// file position is shared or moved), through the connection's
// syscall.RawConn so that a full socket buffer waits in Go's netpoller and
// dst's write deadline applies. Any other dst (a TLS connection, net.Pipe)
// gets the file parts read with pread into a pooled buffer and written with
// Write; so does a file the kernel cannot sendfile from.
//
// It returns the bytes written and how many of them went by sendfile. On
// error part of the response may have been written, so the connection is
// unusable: the caller must close it. A file shorter than its part gives an
// error wrapping errFetchRespShortFile; nothing is padded. The segment files
// must stay open while send runs (log.Slice says for how long they are
// guaranteed to).
func (w *fetchRespWire) send(dst io.Writer) (written, sendfiled int64, err error) {
	var rc syscall.RawConn
	if tcp, ok := dst.(*net.TCPConn); ok && w.fileBytes > 0 {
		if rc, err = tcp.SyscallConn(); err != nil {
			return 0, 0, err
		}
		setCork(rc, true)
		defer setCork(rc, false)
	}
	for i := range w.parts {
		p := &w.parts[i]
		if p.file == nil {
			n, err := dst.Write(w.buf[p.off : p.off+p.n])
			written += int64(n)
			if err != nil {
				return written, sendfiled, err
			}
			continue
		}
		pos := p.off
		if rc != nil {
			n, err := w.sendfile(rc, p)
			written += n
			sendfiled += n
			if err != nil {
				return written, sendfiled, err
			}
			if !w.sf.fallback {
				continue
			}
			pos += n
		}
		n, err := fetchRespCopyFile(dst, p.file, pos, p.off+p.n)
		written += n
		if err != nil {
			return written, sendfiled, err
		}
	}
	return written, sendfiled, nil
}

// sendfile sends part p through rc with sendfile(2) and returns the bytes
// sent. If the kernel cannot sendfile from p's file, it returns with
// w.sf.fallback set and no error, for the caller to copy the rest.
func (w *fetchRespWire) sendfile(rc syscall.RawConn, p *fetchRespPart) (int64, error) {
	if w.sfFn == nil {
		w.sfFn = w.sendfileStep
	}
	w.sf = fetchRespSendfile{src: int(p.file.Fd()), pos: p.off, end: p.off + p.n}
	err := rc.Write(w.sfFn)
	sent := w.sf.pos - p.off
	if err == nil {
		err = w.sf.err
	}
	if errors.Is(err, errFetchRespShortFile) {
		err = fmt.Errorf("%w: %s: bytes [%d, %d) promised, the file ends at %d",
			errFetchRespShortFile, p.file.Name(), p.off, p.off+p.n, w.sf.pos)
	} else if err != nil {
		err = fmt.Errorf("fetch response: sendfile from %s: %w", p.file.Name(), err)
	}
	return sent, err
}

// sendfileStep is the syscall.RawConn.Write callback: it sends w.sf's range
// to the socket fd until done (true), or until the socket buffer is full
// (false: Go waits for the socket to become writable, or the deadline, and
// calls again).
func (w *fetchRespWire) sendfileStep(fd uintptr) bool {
	s := &w.sf
	for s.pos < s.end {
		// The offset is ours: Linux advances it, Darwin does not, and we
		// count by the bytes returned either way.
		off := s.pos
		n, err := unix.Sendfile(int(fd), s.src, &off, int(min(s.end-s.pos, fetchRespSendfileChunk)))
		if n > 0 {
			s.pos += int64(n)
		}
		switch {
		case err == unix.EAGAIN:
			return false
		case err == unix.EINTR:
		case err == unix.EINVAL || err == unix.ENOSYS || err == unix.EOPNOTSUPP:
			// The file system (or the descriptor) cannot sendfile.
			s.fallback = true
			return true
		case err != nil:
			s.err = err
			return true
		case n == 0:
			s.err = errFetchRespShortFile
			return true
		}
	}
	return true
}

// fetchRespCopyFile writes bytes [pos, end) of f to dst through a pooled
// buffer, returning the bytes written.
func fetchRespCopyFile(dst io.Writer, f log.File, pos, end int64) (int64, error) {
	buf := fetchRespCopyBufs.Get().(*[fetchRespCopyBufSize]byte)
	defer fetchRespCopyBufs.Put(buf)
	var written int64
	for pos < end {
		chunk := buf[:min(end-pos, fetchRespCopyBufSize)]
		n, err := f.ReadAt(chunk, pos)
		if n < len(chunk) {
			if err == nil || errors.Is(err, io.EOF) {
				return written, fmt.Errorf("%w: %s: bytes up to %d promised, the file ends at %d",
					errFetchRespShortFile, f.Name(), end, pos+int64(n))
			}
			return written, fmt.Errorf("fetch response: read %s at %d: %w", f.Name(), pos, err)
		}
		m, err := dst.Write(chunk)
		written += int64(m)
		if err != nil {
			return written, err
		}
		pos += int64(n)
	}
	return written, nil
}

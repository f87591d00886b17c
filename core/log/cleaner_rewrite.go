package log

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/weirmq/weir/core/record"
	"github.com/weirmq/weir/sdk"
)

// This file rewrites the cleanable segments of one pass: it reads each
// batch, drops the records the offset map, the delete horizon or the
// compaction filter remove, and writes what survives to new .cleaned
// segment files with offsets, producer fields and codec unchanged.

const (
	// scanChunk is how much of a segment one read takes.
	scanChunk = 1 << 20
	// writeChunk is how much cleaned output is buffered per write.
	writeChunk = 1 << 20
	// filterChunk is how many surviving records one compaction filter call
	// sees at most (more only when a single batch holds more), and
	// filterChunkBytes how many bytes of batches wait for one at most.
	filterChunk      = 1024
	filterChunkBytes = 8 << 20
)

// cleanPass is one cleaning pass over one log. It is used by one goroutine.
type cleanPass struct {
	ctx        context.Context
	l          *Log
	env        *cleanEnv
	plan       *cleanPlan
	it         record.Iterator
	maxDecoded int
	keys       []keyAt
	readBuf    []byte // the scanners' buffer: one scanner reads at a time
	writeBuf   []byte // the writers' buffer: one writer writes at a time

	mapEnd    int   // plan.segs[:mapEnd] are rewritten
	endOffset int64 // the next pass's first dirty offset

	filter    sdk.CompactionFilter // nil for none
	filterErr error                // the last filter error, for the log line
	pending   []pendingBatch       // batches waiting for the filter, in order
	pendRecs  int
	pendBytes int
	recBuf    []record.Record
	sdkRecs   []sdk.Record
	decisions []sdk.FilterDecision
	builder   *record.Builder

	outs        []*segment // the cleaned segments, in order
	committed   bool       // the swap committed: outs belong to the log
	nextHorizon int64      // earliest delete horizon among kept tombstones

	res CleanResult
}

// pendingBatch is a batch whose surviving records wait for the filter.
type pendingBatch struct {
	h       record.Header
	batch   []byte          // the original bytes (a copy when queued)
	recs    []record.Record // the records that survived the key dedupe
	removed bool            // some record was removed
}

func newCleanPass(ctx context.Context, l *Log, env *cleanEnv, plan *cleanPlan) *cleanPass {
	p := &cleanPass{ctx: ctx, l: l, env: env, plan: plan, nextHorizon: math.MaxInt64,
		maxDecoded: int(l.maxBatchOnDisk(plan.cfg)) * 4, builder: record.NewBuilder(record.BuilderOptions{})}
	if name := plan.cfg.CompactionFilter; name != "" {
		if env.filters != nil {
			p.filter, _ = env.filters.CompactionFilter(name)
		}
		if p.filter == nil {
			l.logger.Warn("weir.compaction.filter names no registered filter; compacting by key only", "filter", name)
		}
	}
	return p
}

// release closes the pass's output files, and removes them unless the
// swap committed them to the log.
func (p *cleanPass) release() {
	if p.committed {
		return
	}
	for _, s := range p.outs {
		// Its files are .cleaned, or .swap once install renamed them (or
		// some of them, if a rename failed).
		if err := errors.Join(s.close(), s.removeFiles(cleanedSuffix), s.removeFiles(swapSuffix)); err != nil {
			p.l.logger.Warn("removing the output of an abandoned cleaning pass", "segment", s.base, "err", err)
		}
	}
	p.outs = nil
}

// errScanEOF ends a segment scan.
var errScanEOF = io.EOF

// batchScanner reads one segment's batches in order with large sequential
// reads, up to the size the pass saw when it planned. It checks every
// batch's CRC unless it reads headers only.
type batchScanner struct {
	p           *cleanPass
	s           *segment
	pos, end    int64
	nextOffset  int64 // the offset the next batch may start at
	endOffset   int64 // the segment's end offset when the pass planned
	buf         []byte
	bufPos      int64 // file position of buf[0]
	headersOnly bool
	lastSize    int64
}

func (p *cleanPass) scanner(sv segView, headersOnly bool) *batchScanner {
	return &batchScanner{p: p, s: sv.s, end: sv.size, nextOffset: sv.s.base, endOffset: sv.next, headersOnly: headersOnly}
}

// fill reads at least need bytes at pos (fewer only at the end).
func (sc *batchScanner) fill(pos int64, need int) error {
	n := max(scanChunk, need)
	if sc.headersOnly {
		// Batches are large: read just the next header.
		n = max(64<<10, need)
		if sc.lastSize > 32<<10 {
			n = need
		}
	}
	n = int(min(int64(n), sc.end-pos))
	if cap(sc.p.readBuf) < n {
		sc.p.readBuf = make([]byte, n)
	}
	sc.buf = sc.p.readBuf[:n]
	got, err := sc.s.log.ReadAt(sc.buf, pos)
	if got < n {
		if err == nil || errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return fmt.Errorf("reading segment %d at %d: %w", sc.s.base, pos, err)
	}
	sc.bufPos = pos
	sc.p.res.BytesRead += int64(n)
	return sc.p.env.throttle.wait(sc.p.ctx, int64(n))
}

// next returns the next batch (nil when reading headers only) and its
// header, or errScanEOF. The batch aliases the scanner's buffer until the
// next call.
func (sc *batchScanner) next() ([]byte, record.Header, error) {
	if sc.pos >= sc.end {
		return nil, record.Header{}, errScanEOF
	}
	off := sc.pos - sc.bufPos
	if sc.buf == nil || off < 0 || off+record.HeaderSize > int64(len(sc.buf)) {
		if err := sc.fill(sc.pos, record.HeaderSize); err != nil {
			return nil, record.Header{}, err
		}
		off = 0
	}
	h, err := record.ReadHeader(sc.buf[off:])
	if err != nil {
		return nil, h, fmt.Errorf("%w: segment %d at position %d: %v", ErrCorruptLog, sc.s.base, sc.pos, err)
	}
	size := int64(h.Size())
	if sc.pos+size > sc.end {
		return nil, h, fmt.Errorf("%w: segment %d: the batch at position %d runs past the segment's end", ErrCorruptLog, sc.s.base, sc.pos)
	}
	if h.BaseOffset < sc.nextOffset || h.NextOffset() > sc.endOffset {
		// The base offset is outside the CRC: check it against its
		// neighbours.
		return nil, h, fmt.Errorf("%w: segment %d: the batch at position %d has offsets %d-%d, outside [%d, %d)",
			ErrCorruptLog, sc.s.base, sc.pos, h.BaseOffset, h.LastOffset(), sc.nextOffset, sc.endOffset)
	}
	sc.nextOffset = h.NextOffset()
	sc.lastSize = size
	if sc.headersOnly {
		sc.pos += size
		return nil, h, nil
	}
	if off+size > int64(len(sc.buf)) {
		if err := sc.fill(sc.pos, int(size)); err != nil {
			return nil, h, err
		}
		off = 0
	}
	batch := sc.buf[off : off+size : off+size]
	if _, err := record.Validate(batch); err != nil {
		return nil, h, fmt.Errorf("%w: segment %d at position %d: %v", ErrCorruptLog, sc.s.base, sc.pos, err)
	}
	sc.pos += size
	return batch, h, nil
}

// cleanedWriter writes one cleaned segment's .cleaned files.
type cleanedWriter struct {
	p       *cleanPass
	seg     *segment
	buf     []byte
	written int64 // bytes already in the file
}

func (p *cleanPass) newWriter(base int64) (*cleanedWriter, error) {
	cfg := &p.plan.cfg
	s, err := createSegmentFiles(p.l.fs, p.l.dir, base, cleanedSuffix, cfg.SegmentIndexBytes, p.plan.nowMs)
	if err != nil {
		return nil, err
	}
	p.outs = append(p.outs, s)
	if p.writeBuf == nil {
		p.writeBuf = make([]byte, 0, writeChunk+64<<10)
	}
	return &cleanedWriter{p: p, seg: s, buf: p.writeBuf[:0]}, nil
}

// add appends a whole batch whose header is h.
func (w *cleanedWriter) add(batch []byte, h record.Header) error {
	w.buf = append(w.buf, batch...)
	return w.added(h)
}

// added indexes the batch just appended to w.buf.
func (w *cleanedWriter) added(h record.Header) error {
	s := w.seg
	if h.LastOffset()-s.base > math.MaxUint32 {
		// Grouping keeps this from happening; never write what the index
		// could not describe. (A full index only stops taking entries:
		// lookups then scan from the last one.)
		return fmt.Errorf("cleaned segment %d cannot hold the batch at offset %d", s.base, h.BaseOffset)
	}
	s.indexBatch(h, s.size, w.p.plan.cfg.IndexIntervalBytes)
	s.size += int64(h.Size())
	s.next = h.NextOffset()
	w.p.res.BytesAfter += int64(h.Size())
	if len(w.buf) >= writeChunk {
		return w.flush()
	}
	return nil
}

// addBuilt builds b's batch straight into the write buffer.
func (w *cleanedWriter) addBuilt(b *record.Builder) error {
	start := len(w.buf)
	out, err := b.Build(w.buf)
	if err != nil {
		return err
	}
	w.buf = out
	h, err := record.ReadHeader(w.buf[start:])
	if err != nil {
		return err
	}
	return w.added(h)
}

func (w *cleanedWriter) flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	n, err := w.seg.log.WriteAt(w.buf, w.written)
	if err == nil && n < len(w.buf) {
		err = io.ErrShortWrite
	}
	if err != nil {
		return err
	}
	w.written += int64(n)
	w.p.res.BytesWritten += int64(n)
	w.buf = w.buf[:0]
	w.p.writeBuf = w.buf // keep what append grew
	return w.p.env.throttle.wait(w.p.ctx, int64(n))
}

// finish writes what is buffered, trims the indexes and makes all three
// files durable.
func (w *cleanedWriter) finish() error {
	if err := w.flush(); err != nil {
		return err
	}
	s := w.seg
	if err := s.roll(); err != nil {
		return err
	}
	return errors.Join(s.log.Sync(), s.index.f.Sync(), s.timeIndex.f.Sync())
}

// cleanGroup rewrites a run of segments into one cleaned segment.
func (p *cleanPass) cleanGroup(group []segView) error {
	w, err := p.newWriter(group[0].s.base)
	if err != nil {
		return err
	}
	for _, sv := range group {
		sc := p.scanner(sv, false)
		for n := 0; ; n++ {
			if n%64 == 0 {
				if err := p.checkCancel(); err != nil {
					return err
				}
			}
			batch, h, err := sc.next()
			if errors.Is(err, errScanEOF) {
				break
			}
			if err != nil {
				return err
			}
			if err := p.process(w, batch, h); err != nil {
				return err
			}
		}
	}
	if err := p.flushPending(w); err != nil {
		return err
	}
	p.res.SegmentsAfter++
	return w.finish()
}

// process decides the fate of one batch's records.
func (p *cleanPass) process(w *cleanedWriter, batch []byte, h record.Header) error {
	if h.Attributes.Control() || h.Attributes.Transactional() {
		// Transactions are not implemented yet: their batches and markers
		// are kept exactly as written.
		return p.keepWhole(w, batch, h)
	}
	if err := p.it.Reset(batch, p.l.codecs, p.maxDecoded); err != nil {
		return p.unreadable(w, batch, h, err)
	}
	pb := pendingBatch{h: h, batch: batch, recs: p.recBuf[:0]}
	var removed, tombstones, keyless int64
	for r, ok := p.it.Next(); ok; r, ok = p.it.Next() {
		p.res.RecordsRead++
		switch {
		case r.Key == nil:
			keyless++ // a compacted log cannot hold records without a key (Kafka drops them too)
		case p.isSuperseded(r):
		case r.Value == nil && h.Attributes.HasDeleteHorizon() && p.plan.nowMs >= h.BaseTimestamp:
			tombstones++
		default:
			pb.recs = append(pb.recs, r)
			continue
		}
		removed++
	}
	if err := p.it.Err(); err != nil {
		return p.unreadable(w, batch, h, err)
	}
	p.res.RecordsRemoved += removed
	p.res.TombstonesRemoved += tombstones
	p.res.KeylessRemoved += keyless
	pb.removed = removed > 0
	if p.filter == nil {
		p.recBuf = pb.recs[:0]
		return p.emit(w, &pb, nil)
	}
	// The records wait for the filter: copy them out of the read and
	// decompression buffers.
	pb.batch = append([]byte(nil), batch...)
	recs := make([]record.Record, len(pb.recs))
	for i, r := range pb.recs {
		recs[i] = r.Clone()
	}
	p.recBuf = pb.recs[:0]
	pb.recs = recs
	p.pending = append(p.pending, pb)
	p.pendRecs += len(recs)
	p.pendBytes += len(pb.batch)
	if p.pendRecs >= filterChunk || p.pendBytes >= filterChunkBytes {
		return p.flushPending(w)
	}
	return nil
}

// isSuperseded reports whether a later record of r's key is in the map.
func (p *cleanPass) isSuperseded(r record.Record) bool {
	latest, ok := p.env.offsets[p.env.hash(r.Key)]
	return ok && r.Offset < latest
}

func (p *cleanPass) keepWhole(w *cleanedWriter, batch []byte, h record.Header) error {
	if err := p.flushPending(w); err != nil {
		return err
	}
	return w.add(batch, h)
}

// unreadable keeps a batch whose records cannot be decoded (a codec that
// is not registered, a decompression limit): never delete what we cannot
// read. Its CRC was good, so it is not corruption of the log.
func (p *cleanPass) unreadable(w *cleanedWriter, batch []byte, h record.Header, err error) error {
	if p.res.UnreadableBatches == 0 {
		p.l.logger.Warn("log cleaner keeps a batch it cannot decode", "offset", h.BaseOffset, "err", err)
	}
	p.res.UnreadableBatches++
	return p.keepWhole(w, batch, h)
}

// flushPending runs the filter over the queued batches and writes them.
func (p *cleanPass) flushPending(w *cleanedWriter) error {
	if len(p.pending) == 0 {
		return nil
	}
	decisions := p.runFilter()
	i := 0
	for k := range p.pending {
		pb := &p.pending[k]
		var ds []sdk.FilterDecision
		if decisions != nil {
			ds = decisions[i : i+len(pb.recs)]
		}
		i += len(pb.recs)
		if err := p.emit(w, pb, ds); err != nil {
			return err
		}
	}
	clear(p.pending)
	p.pending, p.pendRecs, p.pendBytes = p.pending[:0], 0, 0
	return nil
}

// runFilter calls the compaction filter over the queued records. It
// returns nil, keeping everything, when the filter fails, declines or
// panics.
func (p *cleanPass) runFilter() []sdk.FilterDecision {
	if p.pendRecs == 0 {
		return nil
	}
	p.sdkRecs = p.sdkRecs[:0]
	for _, pb := range p.pending {
		for _, r := range pb.recs {
			sr := sdk.Record{Offset: r.Offset, TimestampMs: r.Timestamp, Key: r.Key, Value: r.Value}
			if len(r.Headers) > 0 {
				sr.Headers = make([]sdk.Header, len(r.Headers))
				for j, h := range r.Headers {
					sr.Headers[j] = sdk.Header{Key: h.Key, Value: h.Value}
				}
			}
			p.sdkRecs = append(p.sdkRecs, sr)
		}
	}
	if cap(p.decisions) < len(p.sdkRecs) {
		p.decisions = make([]sdk.FilterDecision, len(p.sdkRecs))
	}
	out := p.decisions[:len(p.sdkRecs)]
	clear(out)
	in := sdk.FilterInput{Topic: p.env.topic, Partition: p.env.partition, NowMs: p.plan.nowMs, Records: p.sdkRecs}
	err := callFilter(p.ctx, p.filter, in, out)
	switch {
	case err == nil:
		return out
	case errors.Is(err, sdk.ErrDecline):
		p.res.FilterDeclined++
	default:
		p.res.FilterErrors++
		p.filterErr = err
	}
	return nil
}

// callFilter runs the filter, turning a panic into an error: a bad filter
// must not take the broker down.
func callFilter(ctx context.Context, f sdk.CompactionFilter, in sdk.FilterInput, out []sdk.FilterDecision) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("compaction filter %q panicked: %v", f.Name(), r)
		}
	}()
	return f.Filter(ctx, in, out)
}

// emit writes what is left of a batch: the original bytes when nothing
// changed, a rebuilt batch otherwise, an empty batch when nothing is left
// but the batch holds its producer's last sequence, or nothing at all.
func (p *cleanPass) emit(w *cleanedWriter, pb *pendingBatch, decisions []sdk.FilterDecision) error {
	h := pb.h
	recs := pb.recs
	removed, changed := pb.removed, false
	if decisions != nil {
		kept := recs[:0]
		for i, r := range recs {
			switch d := decisions[i]; d.Action {
			case sdk.Drop:
				p.res.FilterDropped++
				p.res.RecordsRemoved++
				removed = true
				continue
			case sdk.Rewrite:
				r.Value = d.Value
				r.Headers = nil
				for _, hd := range d.Headers {
					r.Headers = append(r.Headers, record.RecordHeader{Key: hd.Key, Value: hd.Value})
				}
				p.res.FilterRewritten++
				changed = true
			}
			kept = append(kept, r)
		}
		recs = kept
	}
	tombstones := false
	for _, r := range recs {
		if r.Value == nil {
			tombstones = true
			break
		}
	}
	horizon := int64(0)
	if tombstones {
		if h.Attributes.HasDeleteHorizon() {
			horizon = h.BaseTimestamp
		} else {
			// First clean to see these tombstones: they stay for
			// delete.retention.ms from now (KIP-534).
			horizon = saturatingAdd(p.plan.nowMs, p.plan.cfg.DeleteRetentionMs)
			changed = true
		}
		p.nextHorizon = min(p.nextHorizon, horizon)
	}
	isLast := h.ProducerID >= 0 && p.env.producers[h.ProducerID] == h.BaseOffset
	if len(recs) == 0 && !isLast {
		return nil // also a batch an earlier pass emptied, once its producer wrote again
	}
	if !removed && !changed {
		return w.add(pb.batch, h)
	}
	opts := record.BuilderOptions{
		BaseOffset:           h.BaseOffset,
		PartitionLeaderEpoch: h.PartitionLeaderEpoch,
		HasProducerID:        h.ProducerID >= 0,
		ProducerID:           h.ProducerID,
		ProducerEpoch:        h.ProducerEpoch,
		BaseSequence:         h.BaseSequence,
		LogAppendTime:        h.Attributes.LogAppendTime(),
		LastOffsetDelta:      h.LastOffsetDelta,
	}
	if len(recs) == 0 {
		// Kept for idempotence: producer id, epoch, base sequence and offset
		// range stay, so the producer's last sequence does too.
		opts.BaseTimestamp = h.MaxTimestamp
		p.res.EmptyBatchesKept++
	} else {
		if horizon != 0 {
			opts.BaseTimestamp, opts.DeleteHorizon = horizon, true
		}
		if id := h.Attributes.Compression(); id != sdk.CompressionNone {
			codec, ok := p.l.codecs.Codec(id) // it decoded the batch, so it is there
			if !ok {
				return fmt.Errorf("no codec for %s to rewrite the batch at offset %d", id, h.BaseOffset)
			}
			opts.Codec = codec
		}
	}
	p.builder.Reset(opts)
	for _, r := range recs {
		if err := p.builder.AppendRecord(r); err != nil {
			return err
		}
	}
	return w.addBuilt(p.builder)
}

func saturatingAdd(a, b int64) int64 {
	if b > 0 && a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

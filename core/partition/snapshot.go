package partition

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"

	"github.com/weirmq/weir/core/record"
)

// snapshotFile holds the producer state at a clean close, so the next Open
// scans only what was appended after it instead of the whole log.
const snapshotFile = "producer-state.json"

type snapshot struct {
	Version   int                `json:"version"`
	Offset    int64              `json:"offset"` // the log end offset the state covers
	Producers []snapshotProducer `json:"producers"`
}

type snapshotProducer struct {
	ID      int64          `json:"id"`
	Epoch   int16          `json:"epoch"`
	Batches []snapshotMeta `json:"batches"` // oldest first
}

type snapshotMeta struct {
	FirstSeq     int32 `json:"first_seq"`
	LastSeq      int32 `json:"last_seq"`
	FirstOffset  int64 `json:"first_offset"`
	LastOffset   int64 `json:"last_offset"`
	MaxTimestamp int64 `json:"max_timestamp"`
}

// writeSnapshot saves the producer state as of the log end offset.
// Callers hold appendMu.
func (p *Partition) writeSnapshot() error {
	s := snapshot{Version: 1, Offset: p.log.LogEndOffset()}
	for id, e := range p.producers {
		sp := snapshotProducer{ID: id, Epoch: e.epoch}
		for i := 0; i < e.n; i++ {
			b := e.batches[(e.head+i)%batchesKept]
			sp.Batches = append(sp.Batches, snapshotMeta{b.firstSeq, b.lastSeq, b.firstOffset, b.lastOffset, b.maxTimestamp})
		}
		s.Producers = append(s.Producers, sp)
	}
	data, err := json.Marshal(s)
	if err != nil {
		return err
	}
	name := filepath.Join(p.log.Dir(), snapshotFile)
	tmp := name + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, name)
}

// loadProducerState rebuilds the producer state: from the snapshot a clean
// close left, plus the batches after it, or by scanning the whole log when
// there is no usable snapshot. The snapshot is removed once read: a later
// truncation below its offset would make it wrong.
func (p *Partition) loadProducerState() error {
	from := p.log.LogStartOffset()
	name := filepath.Join(p.log.Dir(), snapshotFile)
	data, err := os.ReadFile(name)
	if err == nil {
		var s snapshot
		if json.Unmarshal(data, &s) == nil && s.Version == 1 && s.Offset >= from && s.Offset <= p.log.LogEndOffset() {
			for _, sp := range s.Producers {
				e := &producerEntry{epoch: sp.Epoch}
				for _, b := range sp.Batches {
					e.add(batchMeta{b.FirstSeq, b.LastSeq, b.FirstOffset, b.LastOffset, b.MaxTimestamp})
				}
				p.producers[sp.ID] = e
			}
			from = s.Offset
		} else {
			p.logger.Warn("ignoring a producer-state snapshot that does not fit the log; scanning it instead", "offset", s.Offset)
		}
		if err := os.Remove(name); err != nil {
			return err
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return p.scanProducerState(from)
}

// scanProducerState adds the batches of the log from offset from to the
// producer state. Callers hold appendMu (or own p alone, in Open).
func (p *Partition) scanProducerState(from int64) error {
	return p.log.ScanBatches(from, func(h record.Header) bool {
		if h.BaseOffset >= from || h.LastOffset() >= from {
			p.producers.record(h)
		}
		return true
	})
}

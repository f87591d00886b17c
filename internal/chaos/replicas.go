package chaos

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/weirmq/weir/codecs"
	"github.com/weirmq/weir/core/record"
	"github.com/weirmq/weir/sdk"
)

// maxBatchBytes bounds one batch read from a segment file, so a corrupt
// length cannot make the reader allocate without limit.
const maxBatchBytes = 64 << 20

// Batch is one record batch of a replica's log on disk. The bytes are not
// kept: Digest is the SHA-256 of the whole batch as stored, so two
// replicas' batches are byte-identical exactly when size and digest agree.
type Batch struct {
	BaseOffset  int64
	LastOffset  int64
	LeaderEpoch int32 // partition leader epoch, as stored
	Size        int
	Digest      [sha256.Size]byte
	Segment     string // the segment file it came from, for reports

	// Records are the batch's records (offset, sequence, value sum), for
	// comparing the disk with what clients read.
	Records []Record
}

// PartitionDir returns the directory of topic's partition p in a data
// directory (ARCHITECTURE §3: <data_dir>/<topic>-<partition>).
func PartitionDir(dataDir, topic string, p int32) string {
	return filepath.Join(dataDir, topic+"-"+strconv.Itoa(int(p)))
}

// ReadReplicaLog reads every batch of the partition log in dir, from all
// its segment files (*.log, by base offset), in order, checking each
// batch's CRC. Segment boundaries are the replica's own business and do
// not show in the result. It returns an error naming the file and
// position if a batch is torn, corrupt, or does not follow on from the
// one before it.
func ReadReplicaLog(dir string, partition int32) ([]Batch, error) {
	segs, err := filepath.Glob(filepath.Join(dir, "*.log"))
	if err != nil {
		return nil, err
	}
	type seg struct {
		path string
		base int64
	}
	var ss []seg
	for _, s := range segs {
		base, err := strconv.ParseInt(strings.TrimSuffix(filepath.Base(s), ".log"), 10, 64)
		if err != nil {
			continue // not a segment (Weir names segments by base offset)
		}
		ss = append(ss, seg{s, base})
	}
	if len(ss) == 0 {
		if _, err := os.Stat(dir); err != nil {
			return nil, err
		}
	}
	sort.Slice(ss, func(i, j int) bool { return ss[i].base < ss[j].base })
	var out []Batch
	next := int64(-1)
	for _, s := range ss {
		bs, err := readSegment(s.path, partition)
		if err != nil {
			return nil, err
		}
		for _, b := range bs {
			if next >= 0 && b.BaseOffset < next {
				return nil, fmt.Errorf("%s: batch %d-%d overlaps the one before (next offset %d)", s.path, b.BaseOffset, b.LastOffset, next)
			}
			next = b.LastOffset + 1
			out = append(out, b)
		}
	}
	return out, nil
}

// codecRegistry returns a registry of the built-in codecs, for reading
// compressed batches.
func codecRegistry() (*sdk.Registry, error) {
	reg := sdk.NewRegistry()
	if err := codecs.Register(reg); err != nil {
		return nil, err
	}
	return reg, nil
}

// readSegment reads the batches of one segment file.
func readSegment(path string, partition int32) ([]Batch, error) {
	reg, err := codecRegistry()
	if err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	var out []Batch
	var pos int64
	head := make([]byte, record.LogOverhead)
	var buf []byte
	for {
		if _, err := io.ReadFull(r, head); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return nil, fmt.Errorf("%s at %d: torn batch header: %w", path, pos, err)
		}
		length := int32(binary.BigEndian.Uint32(head[8:12]))
		size := record.LogOverhead + int(length)
		if length < record.HeaderSize-record.LogOverhead || size > maxBatchBytes {
			return nil, fmt.Errorf("%s at %d: batch length %d is impossible", path, pos, length)
		}
		buf = append(buf[:0], head...)
		buf = append(buf, make([]byte, int(length))...)
		if _, err := io.ReadFull(r, buf[record.LogOverhead:]); err != nil {
			return nil, fmt.Errorf("%s at %d: torn batch of %d bytes: %w", path, pos, size, err)
		}
		h, err := record.Validate(buf)
		if err != nil {
			return nil, fmt.Errorf("%s at %d: %w", path, pos, err)
		}
		b := Batch{
			BaseOffset: h.BaseOffset, LastOffset: h.LastOffset(), LeaderEpoch: h.PartitionLeaderEpoch,
			Size: size, Digest: sha256.Sum256(buf), Segment: filepath.Base(path),
		}
		it, err := record.NewIterator(buf, reg, maxBatchBytes)
		if err != nil {
			return nil, fmt.Errorf("%s at %d: %w", path, pos, err)
		}
		for rec, ok := it.Next(); ok; rec, ok = it.Next() {
			b.Records = append(b.Records, RecordOf(partition, rec.Offset, rec.Value))
		}
		if err := it.Err(); err != nil {
			return nil, fmt.Errorf("%s at %d: %w", path, pos, err)
		}
		out = append(out, b)
		pos += int64(size)
	}
}

// ReplicaComparison is the result of comparing a partition's replicas.
type ReplicaComparison struct {
	Partition int32
	HW        int64
	Batches   int      // batches below the HW, per replica
	Problems  []string // divergences, gaps, replicas short of the HW
	// Records are the records below the HW (from the first replica), in
	// offset order.
	Records []Record
}

// CompareReplicas checks that every replica in logs (node id → batches,
// as from ReadReplicaLog) holds the same batches, byte for byte, for
// every offset below hw: the same batch boundaries, epochs and bytes, a
// dense run from offset 0 (the workload's topic is never truncated at the
// front), reaching at least hw. Batches at or above hw are not compared.
func CompareReplicas(partition int32, hw int64, logs map[int32][]Batch) ReplicaComparison {
	res := ReplicaComparison{Partition: partition, HW: hw}
	nodes := make([]int32, 0, len(logs))
	for n := range logs {
		nodes = append(nodes, n)
	}
	sort.Slice(nodes, func(i, j int) bool { return nodes[i] < nodes[j] })
	below := map[int32][]Batch{}
	for _, n := range nodes {
		var bs []Batch
		next := int64(0)
		for _, b := range logs[n] {
			if b.BaseOffset >= hw {
				break
			}
			if b.BaseOffset != next {
				res.Problems = append(res.Problems, fmt.Sprintf("partition %d node %d: batch at offset %d where %d was expected (%s)", partition, n, b.BaseOffset, next, b.Segment))
			}
			next = b.LastOffset + 1
			bs = append(bs, b)
		}
		if next < hw {
			res.Problems = append(res.Problems, fmt.Sprintf("partition %d node %d: log ends at %d, below the high watermark %d", partition, n, next, hw))
		}
		below[n] = bs
	}
	if len(nodes) == 0 {
		return res
	}
	ref := nodes[0]
	res.Batches = len(below[ref])
	for _, b := range below[ref] {
		for _, r := range b.Records {
			if r.Offset < hw {
				res.Records = append(res.Records, r)
			}
		}
	}
	for _, n := range nodes[1:] {
		a, b := below[ref], below[n]
		for i := 0; i < min(len(a), len(b)); i++ {
			x, y := a[i], b[i]
			if x.BaseOffset != y.BaseOffset || x.LastOffset != y.LastOffset || x.Size != y.Size || x.Digest != y.Digest {
				res.Problems = append(res.Problems, fmt.Sprintf(
					"partition %d: node %d and node %d diverge at batch %d: offsets %d-%d epoch %d %d bytes sha256 %x (%s) vs offsets %d-%d epoch %d %d bytes sha256 %x (%s)",
					partition, ref, n, i, x.BaseOffset, x.LastOffset, x.LeaderEpoch, x.Size, x.Digest[:6], x.Segment,
					y.BaseOffset, y.LastOffset, y.LeaderEpoch, y.Size, y.Digest[:6], y.Segment))
				break
			}
		}
		if len(a) != len(b) {
			res.Problems = append(res.Problems, fmt.Sprintf("partition %d: node %d has %d batches below the high watermark %d, node %d has %d", partition, ref, len(a), hw, n, len(b)))
		}
	}
	return res
}

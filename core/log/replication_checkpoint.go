package log

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// ReplicationCheckpointFile is the data directory's high-watermark
// checkpoint (Kafka's replication-offset-checkpoint): one "topic partition
// offset" line per hosted partition. The broker writes it; a replica
// starts its HW from it after a restart (never above its LEO).
const ReplicationCheckpointFile = "replication-offset-checkpoint"

// ReadOffsetCheckpoint reads a data-directory offset checkpoint in Kafka's
// format (a version line "0", a count line, then "topic partition offset"
// lines). A missing file is an empty map and no error. A malformed file —
// wrong version, count or fields, a negative partition or offset — is an
// error naming the file and the line or entry; the caller decides whether
// to go on without it. The map is the caller's.
func ReadOffsetCheckpoint(path string) (map[TopicPartition]int64, error) {
	rows, err := readCheckpoint(OSFS{}, path, 3)
	if err != nil {
		return nil, err
	}
	out := make(map[TopicPartition]int64, len(rows))
	for _, r := range rows {
		p, err1 := strconv.ParseInt(r[1], 10, 32)
		o, err2 := strconv.ParseInt(r[2], 10, 64)
		if err1 != nil || err2 != nil || p < 0 || o < 0 || r[0] == "" {
			return nil, fmt.Errorf("checkpoint %s: bad entry %q: want \"topic partition offset\" with a partition and offset of 0 or more", path, strings.Join(r, " "))
		}
		out[TopicPartition{Topic: r[0], Partition: int32(p)}] = o
	}
	return out, nil
}

// WriteOffsetCheckpoint atomically replaces path with offsets in Kafka's
// checkpoint format, sorted by topic and partition: written to path.tmp,
// fsynced, renamed over path, and the directory fsynced. A topic name
// with whitespace (which Kafka's names cannot have) is refused, since it
// would not read back.
func WriteOffsetCheckpoint(path string, offsets map[TopicPartition]int64) error {
	tps := make([]TopicPartition, 0, len(offsets))
	for tp := range offsets {
		if tp.Topic == "" || strings.ContainsAny(tp.Topic, " \t\r\n") {
			return fmt.Errorf("checkpoint %s: topic name %q cannot be written", path, tp.Topic)
		}
		tps = append(tps, tp)
	}
	slices.SortFunc(tps, func(a, b TopicPartition) int {
		if c := strings.Compare(a.Topic, b.Topic); c != 0 {
			return c
		}
		return int(a.Partition) - int(b.Partition)
	})
	rows := make([][]string, len(tps))
	for i, tp := range tps {
		rows[i] = []string{tp.Topic, strconv.Itoa(int(tp.Partition)), strconv.FormatInt(offsets[tp], 10)}
	}
	return writeCheckpoint(OSFS{}, path, rows)
}

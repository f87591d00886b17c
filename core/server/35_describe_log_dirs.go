package server

import (
	"cmp"
	"context"
	"path/filepath"
	"slices"

	"github.com/twmb/franz-go/pkg/kmsg"
	"golang.org/x/sys/unix"

	"github.com/weirmq/weir/core/partition"
)

// handleDescribeLogDirs describes the broker's one log directory, the data
// dir, and the partitions in it (all of them for a null topic list, else
// those asked for that are here): each partition's size on disk, an offset
// lag of 0 (no replica is being moved between directories) and never a
// future replica. From v4 it adds the file system's total and usable
// bytes.
func (b *Broker) handleDescribeLogDirs(_ context.Context, _ *requestContext, kreq kmsg.Request) (any, error) {
	req := kreq.(*kmsg.DescribeLogDirsRequest)
	resp := respond[*kmsg.DescribeLogDirsResponse](req)
	dir := kmsg.NewDescribeLogDirsResponseDir()
	dir.Dir = b.opts.Config.DataDir
	if abs, err := filepath.Abs(dir.Dir); err == nil {
		dir.Dir = abs
	}
	var st unix.Statfs_t
	if err := unix.Statfs(dir.Dir, &st); err == nil {
		dir.TotalBytes = int64(st.Blocks) * int64(st.Bsize)
		dir.UsableBytes = int64(st.Bavail) * int64(st.Bsize)
	}

	wanted := func(string, int32) bool { return true }
	if req.Topics != nil {
		set := map[topicPartition]bool{}
		for _, rt := range req.Topics {
			for _, p := range rt.Partitions {
				set[topicPartition{rt.Topic, p}] = true
			}
		}
		wanted = func(topic string, p int32) bool { return set[topicPartition{topic, p}] }
	}
	b.mu.RLock()
	var parts []*partition.Partition
	for tp, p := range b.mu.partitions {
		if wanted(tp.topic, tp.index) {
			parts = append(parts, p)
		}
	}
	b.mu.RUnlock()
	slices.SortFunc(parts, func(x, y *partition.Partition) int {
		return cmp.Or(cmp.Compare(x.Topic(), y.Topic()), cmp.Compare(x.Index(), y.Index()))
	})
	for _, p := range parts {
		if n := len(dir.Topics); n == 0 || dir.Topics[n-1].Topic != p.Topic() {
			dt := kmsg.NewDescribeLogDirsResponseDirTopic()
			dt.Topic = p.Topic()
			dir.Topics = append(dir.Topics, dt)
		}
		dp := kmsg.NewDescribeLogDirsResponseDirTopicPartition()
		dp.Partition = p.Index()
		dp.Size = p.Log().Size()
		dt := &dir.Topics[len(dir.Topics)-1]
		dt.Partitions = append(dt.Partitions, dp)
	}
	resp.Dirs = append(resp.Dirs, dir)
	return resp, nil
}

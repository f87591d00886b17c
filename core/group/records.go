package group

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirmq/weir/core/record"
)

// Storage is one partition of __consumer_offsets as the coordinator uses
// it; the broker implements it over its partition, tests over memory.
type Storage interface {
	// Append writes batch (one record batch, offsets not yet assigned)
	// and returns once it is committed: the high watermark is past it.
	// On error the batch may or may not be in the log. Errors:
	// ErrBatchTooLarge, ErrNotLeader, or anything else for a partition
	// that is unavailable for now.
	Append(ctx context.Context, batch []byte) error
	// ReadBatches calls fn with every batch from the log start offset up
	// to the high watermark, in order. The batch is valid during the call
	// only. An error from fn stops the read and is returned.
	ReadBatches(ctx context.Context, fn func(batch []byte) error) error
}

var (
	// ErrBatchTooLarge is Storage's answer to a batch larger than the
	// topic accepts.
	ErrBatchTooLarge = errors.New("group: batch too large for " + OffsetsTopic)
	// ErrNotLeader is Storage's answer when this node no longer leads the
	// partition (or it was closed).
	ErrNotLeader = errors.New("group: not the leader of the " + OffsetsTopic + " partition")
	// ErrClosed is Load's answer after Close, or when the partition was
	// unloaded while it loaded.
	ErrClosed = errors.New("group: coordinator closed")
)

// Records in __consumer_offsets are Kafka's: the key's leading int16
// version says what it is — 0 and 1 an offset commit (OffsetCommitKey),
// 2 group metadata (GroupMetadataKey), 3 and 5–8 a consumer group's
// (consumer_records.go); a null value deletes. Keys of other versions
// are skipped on load.
const (
	offsetKeyVersion = 1
	groupKeyVersion  = 2
)

// kv is one record: a nil value is a tombstone.
type kv struct{ key, value []byte }

func offsetKey(group string, k tp) []byte {
	key := kmsg.NewOffsetCommitKey()
	key.Version, key.Group, key.Topic, key.Partition = offsetKeyVersion, group, k.topic, k.partition
	return key.AppendTo(nil)
}

// offsetValue encodes a commit as Kafka does: version 3 (with the leader
// epoch), or version 1 when the commit carries its own expiry time.
func offsetValue(c committed) []byte {
	v := kmsg.NewOffsetCommitValue()
	v.Version, v.Offset, v.Metadata, v.CommitTimestamp = 3, c.offset, c.metadata, c.commitTime
	v.LeaderEpoch = c.leaderEpoch
	if c.expireTime >= 0 {
		v.Version, v.ExpireTimestamp = 1, c.expireTime
	}
	return v.AppendTo(nil)
}

func groupKey(group string) []byte {
	key := kmsg.NewGroupMetadataKey()
	key.Version, key.Group = groupKeyVersion, group
	return key.AppendTo(nil)
}

// buildBatch makes one uncompressed batch of the records, stamped now.
func buildBatch(now time.Time, recs []kv) ([]byte, error) {
	b := record.NewBuilder(record.BuilderOptions{})
	ts := now.UnixMilli()
	for _, r := range recs {
		b.Append(r.key, r.value, ts, nil)
	}
	return b.Build(nil)
}

// maxDecodedBatch bounds the decompressed size of one batch read at load.
const maxDecodedBatch = 64 << 20

// replayed is what a partition's records say once all are applied in
// order: the newest metadata of each group and its offsets.
type replayed struct {
	metadata map[string]*kmsg.GroupMetadataValue
	offsets  map[string]map[tp]committed
	consumer map[string]*replayedConsumer // weir: KIP-848
}

// replay reads the partition from its start. A record it cannot decode is
// skipped with a warning (Kafka would refuse to load the partition;
// skipping keeps every other group available).
func replay(ctx context.Context, s Storage, codecs record.CodecSource, logger *slog.Logger) (*replayed, error) {
	st := &replayed{metadata: map[string]*kmsg.GroupMetadataValue{}, offsets: map[string]map[tp]committed{}}
	var it record.Iterator
	err := s.ReadBatches(ctx, func(batch []byte) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		h, err := record.ReadHeader(batch)
		if err != nil {
			return err
		}
		if h.Attributes.Control() || h.Attributes.Transactional() {
			return nil // no transactional offset commits yet
		}
		if err := it.Reset(batch, codecs, maxDecodedBatch); err != nil {
			return err
		}
		for r, ok := it.Next(); ok; r, ok = it.Next() {
			if err := st.apply(r.Key, r.Value); err != nil {
				logger.Warn("skipping a record of "+OffsetsTopic+" that does not decode", "offset", r.Offset, "err", err)
			}
		}
		return it.Err()
	})
	return st, err
}

func (st *replayed) apply(key, value []byte) error {
	if len(key) < 2 {
		return fmt.Errorf("key of %d bytes", len(key))
	}
	switch version := int16(binary.BigEndian.Uint16(key)); version {
	case 0, 1:
		var k kmsg.OffsetCommitKey
		if err := k.ReadFrom(key); err != nil {
			return err
		}
		at := tp{k.Topic, k.Partition}
		if value == nil {
			delete(st.offsets[k.Group], at)
			return nil
		}
		var v kmsg.OffsetCommitValue
		if err := v.ReadFrom(value); err != nil {
			return err
		}
		c := committed{offset: v.Offset, leaderEpoch: -1, metadata: v.Metadata, commitTime: v.CommitTimestamp, expireTime: -1, topicID: v.TopicID}
		if v.Version >= 3 {
			c.leaderEpoch = v.LeaderEpoch
		}
		if v.Version == 1 {
			c.expireTime = v.ExpireTimestamp
		}
		if st.offsets[k.Group] == nil {
			st.offsets[k.Group] = map[tp]committed{}
		}
		st.offsets[k.Group][at] = c
	case groupKeyVersion:
		var k kmsg.GroupMetadataKey
		if err := k.ReadFrom(key); err != nil {
			return err
		}
		if value == nil {
			delete(st.metadata, k.Group)
			return nil
		}
		v := new(kmsg.GroupMetadataValue)
		// The value's byte fields alias what they are read from: give
		// them their own copy of the record.
		if err := v.ReadFrom(bytes.Clone(value)); err != nil {
			return err
		}
		st.metadata[k.Group] = v
	case cgMetadataKeyVersion, cgMemberMetadataKeyVersion, cgTargetMetadataKeyVersion, cgTargetMemberKeyVersion, cgCurrentKeyVersion: // weir: KIP-848
		return st.applyConsumer(key, value)
	}
	return nil
}

// groups builds the groups the records describe, as of e.now: a group with
// members is Stable with every member's session starting now (they keep
// heartbeating with the generation they have), one without is Empty;
// offsets without group metadata belong to groups that only store
// offsets. A consumer group's records make a consumer group (its
// ConsumerGroupMetadata record must exist; the records of a group of the
// other type are deleted when a group changes type, so at most one is
// there).
func (st *replayed) groups(e env) map[string]*group {
	now := e.now
	out := map[string]*group{}
	for id, rc := range st.consumer { // weir: KIP-848
		if rc.metadata == nil {
			continue
		}
		g := newGroup(id, now)
		g.stateSince = time.Time{}
		g.consumer = rc.build(e)
		out[id] = g
	}
	for id, v := range st.metadata {
		if out[id] != nil {
			continue // weir: KIP-848: a consumer group
		}
		g := newGroup(id, now)
		g.stateSince = time.Time{}
		if v.CurrentStateTimestamp >= 0 {
			g.stateSince = time.UnixMilli(v.CurrentStateTimestamp)
		}
		g.protocolType, g.generation = v.ProtocolType, v.Generation
		if v.Protocol != nil {
			g.protocol = *v.Protocol
		}
		for _, vm := range v.Members {
			g.seq++
			m := &member{
				id: vm.MemberID, clientID: vm.ClientID, clientHost: vm.ClientHost,
				protocols:      []kmsg.JoinGroupRequestProtocol{{Name: g.protocol, Metadata: vm.Subscription}},
				sessionTimeout: time.Duration(vm.SessionTimeoutMillis) * time.Millisecond,
				assignment:     vm.Assignment, seq: g.seq,
			}
			m.rebalanceTimeout = time.Duration(vm.RebalanceTimeoutMillis) * time.Millisecond
			if m.rebalanceTimeout <= 0 {
				m.rebalanceTimeout = m.sessionTimeout
			}
			m.sessionDeadline = now.Add(m.sessionTimeout)
			if vm.InstanceID != nil && *vm.InstanceID != "" {
				m.instanceID = *vm.InstanceID
				g.static[m.instanceID] = m.id
			}
			g.members[m.id] = m
		}
		if len(g.members) > 0 {
			g.state = stateStable
			if v.Leader != nil && g.members[*v.Leader] != nil {
				g.leader = *v.Leader
			} else {
				g.leader = g.sortedMembers()[0].id
			}
		}
		out[id] = g
	}
	for id, offs := range st.offsets {
		if len(offs) == 0 {
			continue
		}
		g := out[id]
		if g == nil {
			g = newGroup(id, now)
			g.stateSince = time.Time{}
			out[id] = g
		}
		g.offsets = offs
	}
	return out
}

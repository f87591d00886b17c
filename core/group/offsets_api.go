package group

import (
	"context"
	"maps"
	"slices"

	"github.com/twmb/franz-go/pkg/kerr"
)

// OffsetCommit is one partition of an OffsetCommit request.
type OffsetCommit struct {
	Topic       string
	TopicID     [16]byte // recorded with the commit when known
	Partition   int32
	Offset      int64
	LeaderEpoch int32
	Metadata    *string
	// Err is the partition's answer. The caller sets it to refuse a
	// partition itself (an unknown topic); CommitOffsets sets it for the
	// others (nil: committed).
	Err *kerr.Error
}

// CommitRequest is an OffsetCommit, normalised across versions.
type CommitRequest struct {
	Version     int16
	Group       string
	MemberID    string
	InstanceID  *string
	Generation  int32 // -1: a commit from outside group management
	RetentionMs int64 // v2–v4; -1 for offsets.retention.minutes
	Offsets     []OffsetCommit
}

// CommitOffsets commits offsets for a group, as Kafka does: from a member
// of the current generation, or with generation -1 for a group without
// members (which creates a group that only stores offsets). It returns
// once the commit is in the log (or has failed), with each partition's
// answer in r.Offsets[i].Err.
func (c *Coordinator) CommitOffsets(ctx context.Context, r *CommitRequest) {
	failAll := func(err *kerr.Error) {
		for i := range r.Offsets {
			if r.Offsets[i].Err == nil {
				r.Offsets[i].Err = err
			}
		}
	}
	sh, err := c.shardFor(r.Group)
	if err != nil {
		failAll(err)
		return
	}
	sh.mu.Unlock()
	sh.writeMu.Lock()
	defer sh.writeMu.Unlock()
	sh.mu.Lock()
	if sh.mu.closed {
		sh.mu.Unlock()
		failAll(kerr.NotCoordinator)
		return
	}
	e := c.env()
	g := sh.mu.groups[r.Group]
	if g == nil {
		if r.Generation >= 0 {
			sh.mu.Unlock()
			// From v9 the answer is GROUP_ID_NOT_FOUND; older clients
			// expect ILLEGAL_GENERATION.
			if r.Version >= 9 {
				failAll(kerr.GroupIDNotFound)
			} else {
				failAll(kerr.IllegalGeneration)
			}
			return
		}
		g = newGroup(r.Group, e.now)
		sh.mu.groups[r.Group] = g
	}
	req := &commitRequest{memberID: r.MemberID, generation: r.Generation, version: r.Version}
	if r.InstanceID != nil {
		req.instanceID = *r.InstanceID
	}
	if err := g.validateCommit(req); err != nil {
		sh.settle(e, g)
		sh.mu.Unlock()
		failAll(err)
		return
	}
	var (
		recs    []kv
		commits []committed
		which   []int
		check   func([16]byte, int32) *kerr.Error
	)
	if g.consumer != nil { // weir: KIP-848 (KIP-1251: an older member epoch, per partition)
		check = g.consumer.partitionCheck(req)
	}
	expire := int64(-1)
	if r.RetentionMs >= 0 {
		expire = e.now.UnixMilli() + r.RetentionMs
	}
	for i := range r.Offsets {
		o := &r.Offsets[i]
		if o.Err != nil {
			continue
		}
		md := ""
		if o.Metadata != nil {
			md = *o.Metadata
		}
		if len(md) > e.cfg.OffsetMetadataMaxBytes {
			o.Err = kerr.OffsetMetadataTooLarge
			continue
		}
		if check != nil {
			if o.Err = check(o.TopicID, o.Partition); o.Err != nil {
				continue
			}
		}
		cm := committed{offset: o.Offset, leaderEpoch: o.LeaderEpoch, metadata: md, commitTime: e.now.UnixMilli(), expireTime: expire, topicID: o.TopicID}
		recs = append(recs, kv{offsetKey(g.id, tp{o.Topic, o.Partition}), offsetValue(cm)})
		commits, which = append(commits, cm), append(which, i)
	}
	sh.mu.Unlock()
	var werr error
	if len(recs) > 0 {
		werr = sh.append(ctx, e.now, recs)
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if werr != nil || !sh.current(g) {
		code := kerr.NotCoordinator
		if werr != nil {
			code = storeError(werr, true)
		}
		for _, i := range which {
			r.Offsets[i].Err = code
		}
	} else {
		for j, i := range which {
			g.offsets[tp{r.Offsets[i].Topic, r.Offsets[i].Partition}] = commits[j]
		}
		g.committedBy(e, r.MemberID, r.Generation)
	}
	if sh.current(g) {
		sh.settle(e, g)
	}
}

// OffsetFetchTopic is a topic of an OffsetFetch request.
type OffsetFetchTopic struct {
	Topic      string
	Partitions []int32
}

// FetchedOffset is one committed offset; Offset is -1 for a partition
// with none.
type FetchedOffset struct {
	Topic       string
	TopicID     [16]byte // as recorded with the commit; zero if unknown
	Partition   int32
	Offset      int64
	LeaderEpoch int32
	Metadata    string
}

// FetchOffsets returns the group's committed offsets for the partitions
// asked, in order (offset -1 where there is none), or all of them, sorted,
// when topics is nil. An unknown group has none. requireStable (KIP-447)
// asks for UNSTABLE_OFFSET_COMMIT where a transactional commit is pending;
// without transactions there never is one. The error is the group's:
// NOT_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS.
func (c *Coordinator) FetchOffsets(groupID string, topics []OffsetFetchTopic, requireStable bool) ([]FetchedOffset, *kerr.Error) {
	_ = requireStable
	sh, err := c.shardFor(groupID)
	if err != nil {
		return nil, err
	}
	defer sh.mu.Unlock()
	var offsets map[tp]committed
	if g := sh.mu.groups[groupID]; g != nil && g.state != stateDead {
		offsets = g.offsets
	}
	fetched := func(k tp, cm committed, ok bool) FetchedOffset {
		f := FetchedOffset{Topic: k.topic, Partition: k.partition, Offset: -1, LeaderEpoch: -1}
		if ok {
			f.TopicID, f.Offset, f.LeaderEpoch, f.Metadata = cm.topicID, cm.offset, cm.leaderEpoch, cm.metadata
		}
		return f
	}
	var out []FetchedOffset
	if topics == nil {
		for _, k := range slices.SortedFunc(maps.Keys(offsets), compareTP) {
			out = append(out, fetched(k, offsets[k], true))
		}
		return out, nil
	}
	for _, t := range topics {
		for _, p := range t.Partitions {
			k := tp{t.Topic, p}
			cm, ok := offsets[k]
			out = append(out, fetched(k, cm, ok))
		}
	}
	return out, nil
}

// OffsetDelete is one partition of an OffsetDelete request; Err is its
// answer, set as for OffsetCommit.Err.
type OffsetDelete struct {
	Topic     string
	Partition int32
	Err       *kerr.Error
}

// DeleteOffsets deletes committed offsets of a group, writing tombstones:
// not those of topics the group consumes (GROUP_SUBSCRIBED_TO_TOPIC), and
// none of a group with members that is not a consumer group
// (NON_EMPTY_GROUP). It returns the request-wide error; each partition's
// answer is in parts[i].Err. An empty group left with no offsets is
// deleted with them.
func (c *Coordinator) DeleteOffsets(ctx context.Context, groupID string, parts []OffsetDelete) *kerr.Error {
	if groupID == "" {
		return kerr.InvalidGroupID
	}
	sh, err := c.shardFor(groupID)
	if err != nil {
		return err
	}
	sh.mu.Unlock()
	sh.writeMu.Lock()
	defer sh.writeMu.Unlock()
	sh.mu.Lock()
	g := sh.mu.groups[groupID]
	switch {
	case sh.mu.closed:
		sh.mu.Unlock()
		return kerr.NotCoordinator
	case g == nil:
		sh.mu.Unlock()
		return kerr.GroupIDNotFound
	}
	if err := g.validateOffsetDelete(); err != nil {
		sh.mu.Unlock()
		return err
	}
	topics, known := g.subscribedTopics()
	var (
		recs  []kv
		gone  []tp
		which []int
	)
	for i := range parts {
		p := &parts[i]
		k := tp{p.Topic, p.Partition}
		switch {
		case p.Err != nil:
		case g.subscribedTo(topics, known, p.Topic):
			p.Err = kerr.GroupSubscribedToTopic
		default:
			if _, ok := g.offsets[k]; ok && !slices.Contains(gone, k) {
				recs = append(recs, kv{key: offsetKey(g.id, k)})
				gone = append(gone, k)
			}
			which = append(which, i)
		}
	}
	removesGroup := g.state == stateEmpty && len(g.members) == 0 && len(g.pending) == 0 && len(gone) == len(g.offsets) && len(gone) > 0 &&
		(g.consumer == nil || g.consumer.empty()) // weir: KIP-848
	since := g.stateSince
	if removesGroup {
		g.setState(stateDead, since)
		g.unwritten = nil
		recs = append(recs, g.deleteRecords()...)
	}
	now := c.clock.Now()
	sh.mu.Unlock()
	var werr error
	if len(recs) > 0 {
		werr = sh.append(ctx, now, recs)
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if !sh.current(g) {
		return nil
	}
	if werr != nil {
		if removesGroup {
			g.setState(stateEmpty, since)
		}
		code := storeError(werr, false)
		for _, i := range which {
			parts[i].Err = code
		}
		return nil
	}
	for _, k := range gone {
		delete(g.offsets, k)
	}
	if removesGroup {
		sh.forget(g)
	} else {
		sh.settle(c.env(), g)
	}
	return nil
}

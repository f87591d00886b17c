package group

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
)

// Consumer groups are stored as Kafka 4 stores them in __consumer_offsets:
// five record types, told apart by the key's leading int16 (Kafka's
// "coordinator record type"), keys non-flexible, values a version (0)
// followed by flexible fields with tagged fields, byte for byte as
// Kafka's schemas define them:
//
//	3 ConsumerGroupMetadata                 key (group)         value: group epoch; tag 0 the metadata hash
//	5 ConsumerGroupMemberMetadata           key (group, member) value: instance, rack, client, subscription, rebalance timeout, server assignor
//	6 ConsumerGroupTargetAssignmentMetadata key (group)         value: target assignment epoch
//	7 ConsumerGroupTargetAssignmentMember   key (group, member) value: the member's target partitions
//	8 ConsumerGroupCurrentMemberAssignment  key (group, member) value: member epoch, previous epoch, state, assigned and revoking partitions (tag 0: their assignment epochs, KIP-1251)
//
// A null value deletes, as for the classic records. Type 4 (Kafka 4.0's
// subscription metadata, replaced by the hash in 4.1) and 16 (resolved
// regular expressions, which Weir resolves again from the metadata) are
// not written, and skipped on load. The metadata hash is Weir's own
// (hashTopics), not Kafka's.
const (
	cgMetadataKeyVersion       = 3
	cgMemberMetadataKeyVersion = 5
	cgTargetMetadataKeyVersion = 6
	cgTargetMemberKeyVersion   = 7
	cgCurrentKeyVersion        = 8
)

var errBadRecord = errors.New("malformed record")

func cgGroupKey(version int16, group string) []byte {
	return kbin.AppendString(kbin.AppendInt16(nil, version), group)
}

func cgMemberKey(version int16, group, member string) []byte {
	return kbin.AppendString(cgGroupKey(version, group), member)
}

// readCGKey decodes a consumer-group key: the group, and the member for
// member keys.
func readCGKey(key []byte) (version int16, group, member string, err error) {
	r := kbin.Reader{Src: key}
	version = r.Int16()
	group = r.String()
	switch version {
	case cgMemberMetadataKeyVersion, cgTargetMemberKeyVersion, cgCurrentKeyVersion:
		member = r.String()
	}
	return version, group, member, r.Complete()
}

// cgMetadataValue is ConsumerGroupMetadataValue.
type cgMetadataValue struct {
	epoch        int32
	metadataHash int64
}

// cgMemberValue is ConsumerGroupMemberMetadataValue (without the classic
// member metadata, tag 0, which only members of the classic protocol in
// a consumer group have).
type cgMemberValue struct {
	instanceID, rackID *string
	clientID           string
	clientHost         string
	topics             []string
	regex              *string
	rebalanceTimeoutMs int32
	assignor           *string
}

// cgCurrentValue is ConsumerGroupCurrentMemberAssignmentValue.
type cgCurrentValue struct {
	epoch, prevEpoch int32
	state            int8
	assigned         []topicParts
	revoking         []topicParts
}

func appendValueVersion(b []byte) []byte { return kbin.AppendInt16(b, 0) }

func appendNoTags(b []byte) []byte { return kbin.AppendUvarint(b, 0) }

func (v *cgMetadataValue) appendTo(b []byte) []byte {
	b = appendValueVersion(b)
	b = kbin.AppendInt32(b, v.epoch)
	b = kbin.AppendUvarint(b, 1) // one tagged field: MetadataHash
	b = kbin.AppendUvarint(b, 0)
	b = kbin.AppendUvarint(b, 8)
	return kbin.AppendInt64(b, v.metadataHash)
}

func (v *cgMemberValue) appendTo(b []byte) []byte {
	b = appendValueVersion(b)
	b = kbin.AppendCompactNullableString(b, v.instanceID)
	b = kbin.AppendCompactNullableString(b, v.rackID)
	b = kbin.AppendCompactString(b, v.clientID)
	b = kbin.AppendCompactString(b, v.clientHost)
	b = kbin.AppendCompactArrayLen(b, len(v.topics))
	for _, t := range v.topics {
		b = kbin.AppendCompactString(b, t)
	}
	b = kbin.AppendCompactNullableString(b, v.regex)
	b = kbin.AppendInt32(b, v.rebalanceTimeoutMs)
	b = kbin.AppendCompactNullableString(b, v.assignor)
	return appendNoTags(b)
}

func appendTargetValue(b []byte, parts []topicParts) []byte {
	b = appendValueVersion(b)
	b = appendTopicParts(b, parts, false)
	return appendNoTags(b)
}

func appendTargetMetadataValue(b []byte, epoch int32) []byte {
	b = appendValueVersion(b)
	b = kbin.AppendInt32(b, epoch)
	return appendNoTags(b)
}

func (v *cgCurrentValue) appendTo(b []byte) []byte {
	b = appendValueVersion(b)
	b = kbin.AppendInt32(b, v.epoch)
	b = kbin.AppendInt32(b, v.prevEpoch)
	b = kbin.AppendInt8(b, v.state)
	b = appendTopicParts(b, v.assigned, true)
	b = appendTopicParts(b, v.revoking, true)
	return appendNoTags(b)
}

// appendTopicParts writes []TopicPartitions; with epochs, each entry
// carries its partitions' assignment epochs as tagged field 0.
func appendTopicParts(b []byte, parts []topicParts, epochs bool) []byte {
	b = kbin.AppendCompactArrayLen(b, len(parts))
	for _, tp := range parts {
		b = kbin.AppendUuid(b, tp.id)
		b = appendInt32s(b, tp.partitions)
		if !epochs || tp.epochs == nil {
			b = appendNoTags(b)
			continue
		}
		field := appendInt32s(nil, tp.epochs)
		b = kbin.AppendUvarint(b, 1)
		b = kbin.AppendUvarint(b, 0)
		b = kbin.AppendUvarint(b, uint32(len(field)))
		b = append(b, field...)
	}
	return b
}

func appendInt32s(b []byte, vs []int32) []byte {
	b = kbin.AppendCompactArrayLen(b, len(vs))
	for _, v := range vs {
		b = kbin.AppendInt32(b, v)
	}
	return b
}

// valueReader starts reading a value: version 0 only.
func valueReader(value []byte) (*kbin.Reader, error) {
	r := &kbin.Reader{Src: value}
	if v := r.Int16(); v != 0 {
		return nil, fmt.Errorf("%w: value version %d", errBadRecord, v)
	}
	return r, nil
}

// arrayLen reads a compact array length, refusing one the remaining
// bytes could not hold (each element takes at least min bytes).
func arrayLen(r *kbin.Reader, min int) (int, bool) {
	n := r.CompactArrayLen()
	if !r.Ok() || n < 0 || int(n)*min > len(r.Src) {
		return 0, n < 0 && r.Ok()
	}
	return int(n), true
}

// readTags reads a tagged-field section, calling fn with each field.
func readTags(r *kbin.Reader, fn func(tag uint32, data []byte) error) error {
	n := r.Uvarint()
	if int(n) > len(r.Src) {
		return errBadRecord
	}
	for i := uint32(0); i < n && r.Ok(); i++ {
		tag := r.Uvarint()
		size := r.Uvarint()
		if int(size) > len(r.Src) {
			return errBadRecord
		}
		data := r.Span(int(size))
		if !r.Ok() {
			break
		}
		if err := fn(tag, data); err != nil {
			return err
		}
	}
	if !r.Ok() {
		return errBadRecord
	}
	return nil
}

func skipTags(r *kbin.Reader) error { return readTags(r, func(uint32, []byte) error { return nil }) }

func readInt32s(r *kbin.Reader) ([]int32, error) {
	n, ok := arrayLen(r, 4)
	if !ok {
		return nil, errBadRecord
	}
	out := make([]int32, n)
	for i := range out {
		out[i] = r.Int32()
	}
	return out, nil
}

func readTopicParts(r *kbin.Reader) ([]topicParts, error) {
	n, ok := arrayLen(r, 18)
	if !ok {
		return nil, errBadRecord
	}
	out := make([]topicParts, 0, n)
	for range n {
		tp := topicParts{id: r.Uuid()}
		var err error
		if tp.partitions, err = readInt32s(r); err != nil {
			return nil, err
		}
		err = readTags(r, func(tag uint32, data []byte) error {
			if tag != 0 {
				return nil
			}
			tr := kbin.Reader{Src: data}
			epochs, err := readInt32s(&tr)
			if err == nil && len(epochs) == len(tp.partitions) && tr.Complete() == nil {
				tp.epochs = epochs
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		out = append(out, tp)
	}
	return out, nil
}

func readCGMetadata(value []byte) (*cgMetadataValue, error) {
	r, err := valueReader(value)
	if err != nil {
		return nil, err
	}
	v := &cgMetadataValue{epoch: r.Int32()}
	err = readTags(r, func(tag uint32, data []byte) error {
		if tag == 0 {
			tr := kbin.Reader{Src: data}
			v.metadataHash = tr.Int64()
			return tr.Complete()
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return v, r.Complete()
}

func readCGMember(value []byte) (*cgMemberValue, error) {
	r, err := valueReader(value)
	if err != nil {
		return nil, err
	}
	v := &cgMemberValue{
		instanceID: r.CompactNullableString(), rackID: r.CompactNullableString(),
		clientID: r.CompactString(), clientHost: r.CompactString(),
	}
	n, ok := arrayLen(r, 1)
	if !ok {
		return nil, errBadRecord
	}
	for range n {
		v.topics = append(v.topics, r.CompactString())
	}
	v.regex = r.CompactNullableString()
	v.rebalanceTimeoutMs = r.Int32()
	v.assignor = r.CompactNullableString()
	if err := skipTags(r); err != nil {
		return nil, err
	}
	return v, r.Complete()
}

func readCGTargetMetadata(value []byte) (int32, error) {
	r, err := valueReader(value)
	if err != nil {
		return 0, err
	}
	epoch := r.Int32()
	if err := skipTags(r); err != nil {
		return 0, err
	}
	return epoch, r.Complete()
}

func readCGTarget(value []byte) ([]topicParts, error) {
	r, err := valueReader(value)
	if err != nil {
		return nil, err
	}
	parts, err := readTopicParts(r)
	if err != nil {
		return nil, err
	}
	if err := skipTags(r); err != nil {
		return nil, err
	}
	return parts, r.Complete()
}

func readCGCurrent(value []byte) (*cgCurrentValue, error) {
	r, err := valueReader(value)
	if err != nil {
		return nil, err
	}
	v := &cgCurrentValue{epoch: r.Int32(), prevEpoch: r.Int32(), state: r.Int8()}
	if v.assigned, err = readTopicParts(r); err != nil {
		return nil, err
	}
	if v.revoking, err = readTopicParts(r); err != nil {
		return nil, err
	}
	if err := skipTags(r); err != nil {
		return nil, err
	}
	return v, r.Complete()
}

// takeRecords takes the records the group's dirty marks stand for, built
// from its state now, and clears the marks. The returned marks go back
// with remark if the write fails.
func (cg *consumerGroup) takeRecords(group string) ([]kv, *cgMarks) {
	if !cg.dirty() {
		return nil, nil
	}
	marks := &cgMarks{group: cg.dirtyGroup, targetEpoch: cg.dirtyTargetEpoch, members: cg.dirtyMembers}
	cg.dirtyGroup, cg.dirtyTargetEpoch, cg.dirtyMembers = false, false, map[string]uint8{}
	var recs []kv
	if marks.group {
		v := cgMetadataValue{epoch: cg.epoch, metadataHash: cg.metadataHash}
		recs = append(recs, kv{cgGroupKey(cgMetadataKeyVersion, group), v.appendTo(nil)})
	}
	ids := slices.Sorted(maps.Keys(marks.members))
	for _, id := range ids {
		if marks.members[id]&dirtyMemberMetadata == 0 {
			continue
		}
		var value []byte
		if m := cg.members[id]; m != nil {
			value = m.metadataValue().appendTo(nil)
		}
		recs = append(recs, kv{cgMemberKey(cgMemberMetadataKeyVersion, group, id), value})
	}
	for _, id := range ids {
		if marks.members[id]&dirtyTargetMember == 0 {
			continue
		}
		var value []byte
		if m := cg.members[id]; m != nil {
			value = appendTargetValue(nil, groupByTopic(slices.Collect(maps.Keys(cg.target[id]))))
		}
		recs = append(recs, kv{cgMemberKey(cgTargetMemberKeyVersion, group, id), value})
	}
	if marks.targetEpoch {
		recs = append(recs, kv{cgGroupKey(cgTargetMetadataKeyVersion, group), appendTargetMetadataValue(nil, cg.assignmentEpoch)})
	}
	for _, id := range ids {
		if marks.members[id]&dirtyCurrent == 0 {
			continue
		}
		var value []byte
		if m := cg.members[id]; m != nil {
			v := cgCurrentValue{epoch: m.epoch, prevEpoch: m.prevEpoch, state: int8(m.state), assigned: withEpochs(m.assigned), revoking: withEpochs(m.revoking)}
			value = v.appendTo(nil)
		}
		recs = append(recs, kv{cgMemberKey(cgCurrentKeyVersion, group, id), value})
	}
	return recs, marks
}

// cgMarks are dirty marks taken by takeRecords.
type cgMarks struct {
	group, targetEpoch bool
	members            map[string]uint8
}

// remark puts back marks whose records were not written; the next write
// carries the state as it is then.
func (cg *consumerGroup) remark(m *cgMarks) {
	if m == nil {
		return
	}
	cg.dirtyGroup = cg.dirtyGroup || m.group
	cg.dirtyTargetEpoch = cg.dirtyTargetEpoch || m.targetEpoch
	for id, bits := range m.members {
		cg.mark(id, bits)
	}
}

// deleteRecords are the tombstones that delete the consumer group: every
// member's records (and those of members whose tombstones are still to
// be written), the target's and the group's. The dirty marks stay: if
// the write fails, the group is still there to write them.
func (cg *consumerGroup) deleteRecords(group string) []kv {
	ids := map[string]bool{}
	for id := range cg.members {
		ids[id] = true
	}
	for id := range cg.dirtyMembers {
		ids[id] = true
	}
	var recs []kv
	for _, id := range slices.Sorted(maps.Keys(ids)) {
		recs = append(recs,
			kv{key: cgMemberKey(cgCurrentKeyVersion, group, id)},
			kv{key: cgMemberKey(cgTargetMemberKeyVersion, group, id)},
			kv{key: cgMemberKey(cgMemberMetadataKeyVersion, group, id)})
	}
	recs = append(recs, kv{key: cgGroupKey(cgTargetMetadataKeyVersion, group)}, kv{key: cgGroupKey(cgMetadataKeyVersion, group)})
	return recs
}

func (m *cmember) metadataValue() *cgMemberValue {
	v := &cgMemberValue{
		clientID: m.clientID, clientHost: m.clientHost, topics: m.topics,
		rebalanceTimeoutMs: int32(m.rebalanceTimeout.Milliseconds()),
	}
	if v.topics == nil {
		v.topics = []string{}
	}
	if m.instanceID != "" {
		v.instanceID = stringPtr(m.instanceID)
	}
	if m.rackID != "" {
		v.rackID = stringPtr(m.rackID)
	}
	if m.regex != "" {
		v.regex = stringPtr(m.regex)
	}
	if m.assignor != "" {
		v.assignor = stringPtr(m.assignor)
	}
	return v
}

// replayedConsumer is what a partition's records say of one consumer
// group.
type replayedConsumer struct {
	metadata    *cgMetadataValue
	targetEpoch int32
	members     map[string]*cgMemberValue
	targets     map[string][]topicParts
	current     map[string]*cgCurrentValue
}

// applyConsumer applies one consumer-group record.
func (st *replayed) applyConsumer(key, value []byte) error {
	version, groupID, member, err := readCGKey(key)
	if err != nil {
		return err
	}
	if st.consumer == nil {
		st.consumer = map[string]*replayedConsumer{}
	}
	rc := st.consumer[groupID]
	if rc == nil {
		rc = &replayedConsumer{members: map[string]*cgMemberValue{}, targets: map[string][]topicParts{}, current: map[string]*cgCurrentValue{}}
		st.consumer[groupID] = rc
	}
	switch version {
	case cgMetadataKeyVersion:
		rc.metadata = nil
		if value != nil {
			rc.metadata, err = readCGMetadata(value)
		}
	case cgMemberMetadataKeyVersion:
		delete(rc.members, member)
		if value != nil {
			var v *cgMemberValue
			if v, err = readCGMember(value); err == nil {
				rc.members[member] = v
			}
		}
	case cgTargetMetadataKeyVersion:
		rc.targetEpoch = 0
		if value != nil {
			rc.targetEpoch, err = readCGTargetMetadata(value)
		}
	case cgTargetMemberKeyVersion:
		delete(rc.targets, member)
		if value != nil {
			var v []topicParts
			if v, err = readCGTarget(value); err == nil {
				rc.targets[member] = v
			}
		}
	case cgCurrentKeyVersion:
		delete(rc.current, member)
		if value != nil {
			var v *cgCurrentValue
			if v, err = readCGCurrent(value); err == nil {
				rc.current[member] = v
			}
		}
	}
	return err
}

// build makes the consumer group the records describe, as of now: every
// member's session starts now (it keeps heartbeating with the epoch it
// has). Records of members without member metadata are leftovers and
// ignored; a partition two members claim (which consistent records never
// hold) goes to the first by member id.
func (rc *replayedConsumer) build(e env) *consumerGroup {
	cg := newConsumerGroup()
	cg.epoch, cg.metadataHash = rc.metadata.epoch, rc.metadata.metadataHash
	cg.assignmentEpoch = rc.targetEpoch
	for _, id := range slices.Sorted(maps.Keys(rc.members)) {
		v := rc.members[id]
		m := &cmember{
			id:               id,
			clientID:         v.clientID,
			clientHost:       v.clientHost,
			topics:           slices.Compact(slices.Sorted(slices.Values(v.topics))),
			rebalanceTimeout: time.Duration(v.rebalanceTimeoutMs) * time.Millisecond,
			assigned:         map[partKey]int32{},
			revoking:         map[partKey]int32{},
			sessionDeadline:  e.now.Add(e.cfg.ConsumerSessionTimeout),
		}
		if v.instanceID != nil && *v.instanceID != "" {
			m.instanceID = *v.instanceID
			cg.static[m.instanceID] = id
		}
		if v.rackID != nil {
			m.rackID = *v.rackID
		}
		if v.regex != nil && *v.regex != "" {
			if re, err := compileSubscription(*v.regex); err == nil {
				m.regex, m.re = *v.regex, re
			}
		}
		if v.assignor != nil {
			m.assignor = *v.assignor
		}
		if cur := rc.current[id]; cur != nil {
			m.epoch, m.prevEpoch, m.state = cur.epoch, cur.prevEpoch, memberState(cur.state)
			cg.claim(m, m.assigned, cur.assigned)
			cg.claim(m, m.revoking, cur.revoking)
			if m.state != memberUnrevoked && m.state != memberUnreleased {
				m.state = memberStable
			}
			if m.state == memberUnrevoked {
				m.revokeDeadline = e.now.Add(m.rebalanceTimeout)
			}
		}
		if t, ok := rc.targets[id]; ok {
			set := pset{}
			for _, tp := range t {
				for _, p := range tp.partitions {
					set[partKey{tp.id, p}] = struct{}{}
				}
			}
			cg.target[id] = set
		}
		cg.members[id] = m
	}
	return cg
}

// claim gives m the partitions of parts that no member holds yet.
func (cg *consumerGroup) claim(m *cmember, into map[partKey]int32, parts []topicParts) {
	for _, tp := range parts {
		for i, p := range tp.partitions {
			k := partKey{tp.id, p}
			if _, held := cg.owners[k]; held {
				continue
			}
			epoch := m.epoch
			if tp.epochs != nil {
				epoch = tp.epochs[i]
			}
			into[k] = epoch
			cg.owners[k] = m.id
		}
	}
}

// compileSubscription compiles a subscribed topic regular expression,
// which (as in Kafka) must match a whole topic name.
func compileSubscription(re string) (*regexp.Regexp, error) {
	return regexp.Compile("^(?:" + re + ")$")
}

// needsWrite reports whether g has records the log does not have yet:
// classic group metadata, or dirty consumer-group records.
func (g *group) needsWrite() bool {
	return g.unwritten != nil || (g.consumer != nil && g.consumer.dirty())
}

// takeRecords takes the records g has to write. restore (called under the
// shard's lock) puts back what a failed write did not carry; classic
// metadata is not put back (the classic protocol writes it again on its
// next change), consumer marks are.
func (g *group) takeRecords() (recs []kv, restore func()) {
	if v := g.unwritten; v != nil {
		g.unwritten = nil
		recs = append(recs, kv{groupKey(g.id), v.AppendTo(nil)})
	}
	var marks *cgMarks
	cg := g.consumer
	if cg != nil {
		var crecs []kv
		crecs, marks = cg.takeRecords(g.id)
		recs = append(recs, crecs...)
	}
	return recs, func() {
		if cg != nil && g.consumer == cg {
			cg.remark(marks)
		}
	}
}

// deleteRecords are the tombstones that delete g: its classic metadata,
// or all its consumer-group records.
func (g *group) deleteRecords() []kv {
	if g.consumer != nil {
		return g.consumer.deleteRecords(g.id)
	}
	return []kv{{key: groupKey(g.id)}}
}

package controller

import (
	"cmp"
	"encoding/base64"
	"fmt"
	"maps"
	"slices"
)

// TopicID is a topic's UUID, as Kafka's Uuid: never all zero. Its text form
// (String, JSON) is Kafka's: the 16 bytes in unpadded base64url.
type TopicID [16]byte

// IsZero reports whether id is the all-zero ID, which no topic has.
func (id TopicID) IsZero() bool { return id == TopicID{} }

// String returns id in Kafka's form, e.g. "2xA5OYhBQWeDy1OrRvo3Fw".
func (id TopicID) String() string { return base64.RawURLEncoding.EncodeToString(id[:]) }

// MarshalText encodes id as String does.
func (id TopicID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// UnmarshalText decodes Kafka's form of a UUID.
func (id *TopicID) UnmarshalText(b []byte) error {
	parsed, err := ParseTopicID(string(b))
	if err != nil {
		return err
	}
	*id = parsed
	return nil
}

// ParseTopicID parses Kafka's form of a UUID (22 characters of unpadded
// base64url). It returns an error wrapping ErrInvalidCommand otherwise.
func ParseTopicID(s string) (TopicID, error) {
	var id TopicID
	if len(s) != 22 {
		return id, fail(ErrInvalidCommand, "topic ID %q: want 22 characters of base64url", s)
	}
	n, err := base64.RawURLEncoding.Strict().Decode(id[:], []byte(s))
	if err != nil || n != len(id) {
		return TopicID{}, fail(ErrInvalidCommand, "topic ID %q: not base64url", s)
	}
	return id, nil
}

// Broker is a registered broker.
type Broker struct {
	ID   int32  `json:"id"`
	Host string `json:"host"`
	Port int32  `json:"port"`
	Rack string `json:"rack,omitempty"` // "" for none
	// Epoch is the image Offset of the broker's latest registration, as
	// Kafka's broker epoch is the offset of its registration record.
	Epoch int64 `json:"epoch"`
	// Fenced brokers get no new replicas and leaderships, and leave every
	// ISR where another member remains (FenceBroker, when the broker's
	// session expires). Registration and UnfenceBroker unfence.
	Fenced bool `json:"fenced,omitempty"`
	// InControlledShutdown: the broker asked to shut down
	// (ControlledShutdown). It has handed its leaderships over, left the
	// ISRs where others remain, and gets no new leaderships and no new
	// ISR memberships until it registers again.
	InControlledShutdown bool `json:"in_controlled_shutdown,omitempty"`
}

// Live reports whether b may lead partitions and join ISRs: it is neither
// fenced nor shutting down.
func (b Broker) Live() bool { return !b.Fenced && !b.InControlledShutdown }

// Topic is a topic and its partitions. A Topic read from an Image shares
// its slices and map with the Image: treat them as read-only, and Clone it
// to get one to modify.
type Topic struct {
	Name string  `json:"name"`
	ID   TopicID `json:"id"`
	// Configs holds the topic's overrides only, by Kafka name, in Kafka's
	// string form (config.Value.String); nil when there are none. Resolve
	// the full configuration with (*config.Config).ResolveTopic(Configs).
	Configs    map[string]string `json:"configs,omitempty"`
	Partitions []Partition       `json:"partitions"` // index = partition number
}

// Clone returns a deep copy of t.
func (t Topic) Clone() Topic {
	t.Configs = maps.Clone(t.Configs)
	t.Partitions = slices.Clone(t.Partitions)
	for i := range t.Partitions {
		p := &t.Partitions[i]
		p.Replicas, p.ISR = slices.Clone(p.Replicas), slices.Clone(p.ISR)
		p.AddingReplicas, p.RemovingReplicas = slices.Clone(p.AddingReplicas), slices.Clone(p.RemovingReplicas)
	}
	return t
}

// Partition is one partition's assignment and leadership.
//
// LeaderEpoch goes up by one with every change of leader (including to and
// from -1, and a leader that registered again after a restart);
// PartitionEpoch goes up by one with every change of the partition
// (leader, ISR, replicas), as in Kafka's PartitionChangeRecord.
type Partition struct {
	Replicas       []int32 `json:"replicas"` // the first is the preferred leader
	ISR            []int32 `json:"isr"`
	Leader         int32   `json:"leader"` // -1 for none
	LeaderEpoch    int32   `json:"leader_epoch"`
	PartitionEpoch int32   `json:"partition_epoch"`
	// AddingReplicas and RemovingReplicas are set while a reassignment
	// (AlterPartitionReassignments, KIP-455) moves the partition:
	// Replicas is then the target replicas followed by RemovingReplicas,
	// AddingReplicas are the target replicas that are new. Both are nil
	// otherwise.
	AddingReplicas   []int32 `json:"adding_replicas,omitempty"`
	RemovingReplicas []int32 `json:"removing_replicas,omitempty"`
}

// Reassigning reports whether a reassignment is moving p.
func (p Partition) Reassigning() bool {
	return len(p.AddingReplicas) > 0 || len(p.RemovingReplicas) > 0
}

// TargetReplicas returns the replicas p will have once its reassignment
// completes: Replicas without RemovingReplicas (Replicas when none is
// ongoing). The slice is the caller's.
func (p Partition) TargetReplicas() []int32 {
	return slices.DeleteFunc(slices.Clone(p.Replicas), func(r int32) bool { return slices.Contains(p.RemovingReplicas, r) })
}

// Image is the cluster metadata after some number of applied commands. An
// Image never changes: Apply returns a new one that shares what did not
// change (copy-on-write), so an Image is safe to share between goroutines
// without locks. Slices and maps returned by its accessors are the caller's
// unless said otherwise. The zero Image (and NewImage) is the empty
// cluster.
type Image struct {
	clusterID      string
	offset         int64
	nextProducerID int64
	brokers        map[int32]Broker
	topics         map[string]*Topic // by name
	topicIDs       map[TopicID]*Topic
	brokerConfigs  map[string]string
	groupConfigs   map[string]map[string]string // group → overrides; each map never changes
}

// NewImage returns the empty image: no cluster ID, brokers or topics, at
// Offset 0.
func NewImage() *Image { return &Image{} }

// ClusterID returns the cluster's ID, "" before InitCluster.
func (img *Image) ClusterID() string { return img.clusterID }

// Offset returns how many commands have been applied to reach img.
func (img *Image) Offset() int64 { return img.offset }

// NextProducerID returns the first producer ID AllocateProducerIDs will
// hand out next.
func (img *Image) NextProducerID() int64 { return img.nextProducerID }

// Broker returns the broker with the given ID.
func (img *Image) Broker(id int32) (Broker, bool) {
	b, ok := img.brokers[id]
	return b, ok
}

// Brokers returns every registered broker, fenced or not, sorted by ID.
func (img *Image) Brokers() []Broker {
	out := slices.Collect(maps.Values(img.brokers))
	slices.SortFunc(out, func(a, b Broker) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// TopicByName returns the named topic. Its slices and map are shared with
// img: read-only.
func (img *Image) TopicByName(name string) (Topic, bool) {
	if t, ok := img.topics[name]; ok {
		return *t, true
	}
	return Topic{}, false
}

// TopicByID returns the topic with the given ID. Its slices and map are
// shared with img: read-only.
func (img *Image) TopicByID(id TopicID) (Topic, bool) {
	if t, ok := img.topicIDs[id]; ok {
		return *t, true
	}
	return Topic{}, false
}

// TopicNames returns the names of every topic, sorted.
func (img *Image) TopicNames() []string {
	return slices.Sorted(maps.Keys(img.topics))
}

// Topics returns every topic, sorted by name. The slice is the caller's;
// each Topic's slices and map are shared with img: read-only.
func (img *Image) Topics() []Topic {
	out := make([]Topic, 0, len(img.topics))
	for _, name := range img.TopicNames() {
		out = append(out, *img.topics[name])
	}
	return out
}

// TopicCount returns the number of topics.
func (img *Image) TopicCount() int { return len(img.topics) }

// Partition returns partition p of the topic with the given ID. Its slices
// are shared with img: read-only.
func (img *Image) Partition(id TopicID, p int32) (Partition, bool) {
	t, ok := img.topicIDs[id]
	if !ok || p < 0 || int(p) >= len(t.Partitions) {
		return Partition{}, false
	}
	return t.Partitions[p], true
}

// OngoingReassignment is a partition that a reassignment is moving. Its
// slices are shared with the Image it came from: read-only.
type OngoingReassignment struct {
	Topic            string
	TopicID          TopicID
	Partition        int32
	Replicas         []int32 // the target replicas, then RemovingReplicas
	AddingReplicas   []int32
	RemovingReplicas []int32
}

// Target returns the replicas the partition will have once the
// reassignment completes. The slice is the caller's.
func (r OngoingReassignment) Target() []int32 {
	return Partition{Replicas: r.Replicas, RemovingReplicas: r.RemovingReplicas}.TargetReplicas()
}

// Reassignments returns the ongoing partition reassignments (Kafka's
// ListPartitionReassignments), sorted by topic name and partition. The
// slice is the caller's; the replica lists are shared with img.
func (img *Image) Reassignments() []OngoingReassignment {
	var out []OngoingReassignment
	for _, name := range img.TopicNames() {
		t := img.topics[name]
		for i, p := range t.Partitions {
			if p.Reassigning() {
				out = append(out, OngoingReassignment{Topic: t.Name, TopicID: t.ID, Partition: int32(i),
					Replicas: p.Replicas, AddingReplicas: p.AddingReplicas, RemovingReplicas: p.RemovingReplicas})
			}
		}
	}
	return out
}

// BrokerConfigs returns the dynamic broker config overrides (cluster-wide,
// Kafka names and string form); nil when there are none.
func (img *Image) BrokerConfigs() map[string]string { return maps.Clone(img.brokerConfigs) }

// BrokerConfig returns one dynamic broker config override.
func (img *Image) BrokerConfig(name string) (string, bool) {
	v, ok := img.brokerConfigs[name]
	return v, ok
}

// GroupConfigs returns the config overrides of a consumer group (Kafka
// names and string form, config.GroupTable), whether or not the group
// exists; nil when it has none.
func (img *Image) GroupConfigs(group string) map[string]string {
	return maps.Clone(img.groupConfigs[group])
}

// GroupConfig returns one config override of a consumer group.
func (img *Image) GroupConfig(group, name string) (string, bool) {
	v, ok := img.groupConfigs[group][name]
	return v, ok
}

// imageVersion is the version of the Image's JSON form.
const imageVersion = 1

// imageJSON is the serialised form of an Image, used for snapshots: every
// list sorted, so the same Image always encodes to the same bytes.
type imageJSON struct {
	Version        int               `json:"version"`
	ClusterID      string            `json:"cluster_id"`
	Offset         int64             `json:"offset"`
	NextProducerID int64             `json:"next_producer_id"`
	Brokers        []Broker          `json:"brokers"`
	Topics         []Topic           `json:"topics"`
	BrokerConfigs  map[string]string `json:"broker_configs,omitempty"`
	// GroupConfigs came without a new version: an image without group
	// configs encodes as before.
	GroupConfigs map[string]map[string]string `json:"group_configs,omitempty"`
}

// MarshalJSON encodes the whole image, as a snapshot. The same image
// always gives the same bytes; DecodeImage reads them back.
func (img *Image) MarshalJSON() ([]byte, error) {
	return marshal(imageJSON{
		Version:        imageVersion,
		ClusterID:      img.clusterID,
		Offset:         img.offset,
		NextProducerID: img.nextProducerID,
		Brokers:        img.Brokers(),
		Topics:         img.Topics(),
		BrokerConfigs:  img.brokerConfigs,
		GroupConfigs:   img.groupConfigs,
	})
}

// DecodeImage decodes an image encoded by MarshalJSON and checks that it
// is consistent (unique broker IDs, valid and unique topic names, non-zero
// and unique topic IDs, non-empty replica lists, group configs of named
// groups). It returns an error wrapping ErrInvalidCommand when it is not.
func DecodeImage(data []byte) (*Image, error) {
	var j imageJSON
	if err := unmarshalStrict(data, &j); err != nil {
		return nil, fail(ErrInvalidCommand, "image: %v", err)
	}
	if j.Version != imageVersion {
		return nil, fail(ErrInvalidCommand, "image: unsupported version %d (this build reads %d)", j.Version, imageVersion)
	}
	img := &Image{clusterID: j.ClusterID, offset: j.Offset, nextProducerID: j.NextProducerID}
	if len(j.BrokerConfigs) > 0 {
		img.brokerConfigs = j.BrokerConfigs
	}
	for group, configs := range j.GroupConfigs {
		if group == "" {
			return nil, fail(ErrInvalidCommand, "image: group configs of a group with an empty name")
		}
		if len(configs) == 0 {
			continue
		}
		if img.groupConfigs == nil {
			img.groupConfigs = make(map[string]map[string]string, len(j.GroupConfigs))
		}
		img.groupConfigs[group] = configs
	}
	for _, b := range j.Brokers {
		if _, dup := img.brokers[b.ID]; dup || b.ID < 0 {
			return nil, fail(ErrInvalidCommand, "image: broker %d is invalid or listed twice", b.ID)
		}
		if img.brokers == nil {
			img.brokers = make(map[int32]Broker, len(j.Brokers))
		}
		img.brokers[b.ID] = b
	}
	for i := range j.Topics {
		t := &j.Topics[i]
		if err := checkTopicName(t.Name); err != nil {
			return nil, fmt.Errorf("image: %w", err)
		}
		if t.ID.IsZero() || img.topicIDs[t.ID] != nil || img.topics[t.Name] != nil {
			return nil, fail(ErrInvalidCommand, "image: topic %q or its ID %s is invalid or listed twice", t.Name, t.ID)
		}
		if len(t.Partitions) == 0 {
			return nil, fail(ErrInvalidCommand, "image: topic %q has no partitions", t.Name)
		}
		for p, part := range t.Partitions {
			if len(part.Replicas) == 0 {
				return nil, fail(ErrInvalidCommand, "image: partition %s-%d has no replicas", t.Name, p)
			}
			for _, r := range slices.Concat(part.AddingReplicas, part.RemovingReplicas) {
				if !slices.Contains(part.Replicas, r) {
					return nil, fail(ErrInvalidCommand, "image: partition %s-%d: reassigned replica %d is not a replica", t.Name, p, r)
				}
			}
			if len(part.TargetReplicas()) == 0 {
				return nil, fail(ErrInvalidCommand, "image: partition %s-%d: a reassignment removes every replica", t.Name, p)
			}
		}
		if len(t.Configs) == 0 {
			t.Configs = nil
		}
		if img.topics == nil {
			img.topics = make(map[string]*Topic, len(j.Topics))
			img.topicIDs = make(map[TopicID]*Topic, len(j.Topics))
		}
		img.topics[t.Name], img.topicIDs[t.ID] = t, t
	}
	return img, nil
}

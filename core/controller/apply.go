package controller

import (
	"maps"
	"math"
	"slices"
	"strings"

	"github.com/weirmq/weir/core/config"
)

// MaxPartitions bounds a topic's partition count, so that a request cannot
// make the controller allocate without limit.
const MaxPartitions = 1 << 20

// MaxTopicNameLength is Kafka's limit on topic names.
const MaxTopicNameLength = 249

// MaxProducerIDBlock bounds the Count of one AllocateProducerIDs.
const MaxProducerIDBlock = 1 << 20

// Apply applies cmd to img and returns the resulting image and what the
// command produced. It is deterministic: no I/O, clock or randomness, so
// the same commands applied to equal images give equal images. On error it
// returns img itself, a zero Result and an error wrapping one of the error
// classes of this package, naming what is wrong. img is not modified
// either way; Apply is safe for concurrent use. img must not be nil (the
// zero Image is the empty cluster).
func (img *Image) Apply(cmd Command) (*Image, Result, error) {
	next := *img
	next.offset++
	var res Result
	var err error
	switch c := cmd.(type) {
	case InitCluster:
		err = next.initCluster(c)
	case *InitCluster:
		err = ptr(c, next.initCluster)
	case RegisterBroker:
		err = next.registerBroker(c, &res)
	case *RegisterBroker:
		err = ptr(c, func(c RegisterBroker) error { return next.registerBroker(c, &res) })
	case CreateTopic:
		err = next.createTopic(c)
	case *CreateTopic:
		err = ptr(c, next.createTopic)
	case DeleteTopic:
		err = next.deleteTopic(c)
	case *DeleteTopic:
		err = ptr(c, next.deleteTopic)
	case CreatePartitions:
		err = next.createPartitions(c)
	case *CreatePartitions:
		err = ptr(c, next.createPartitions)
	case AlterTopicConfigs:
		err = next.alterTopicConfigs(c)
	case *AlterTopicConfigs:
		err = ptr(c, next.alterTopicConfigs)
	case AlterBrokerConfigs:
		err = next.alterBrokerConfigs(c)
	case *AlterBrokerConfigs:
		err = ptr(c, next.alterBrokerConfigs)
	case AlterGroupConfigs:
		err = next.alterGroupConfigs(c)
	case *AlterGroupConfigs:
		err = ptr(c, next.alterGroupConfigs)
	case AllocateProducerIDs:
		err = next.allocateProducerIDs(c, &res)
	case *AllocateProducerIDs:
		err = ptr(c, func(c AllocateProducerIDs) error { return next.allocateProducerIDs(c, &res) })
	case AlterPartition:
		err = next.alterPartition(c, &res)
	case *AlterPartition:
		err = ptr(c, func(c AlterPartition) error { return next.alterPartition(c, &res) })
	case FenceBroker:
		err = next.fenceBroker(c)
	case *FenceBroker:
		err = ptr(c, next.fenceBroker)
	case UnfenceBroker:
		err = next.unfenceBroker(c)
	case *UnfenceBroker:
		err = ptr(c, next.unfenceBroker)
	case ControlledShutdown:
		err = next.controlledShutdown(c)
	case *ControlledShutdown:
		err = ptr(c, next.controlledShutdown)
	case ElectLeaders:
		err = next.electLeaders(c, &res)
	case *ElectLeaders:
		err = ptr(c, func(c ElectLeaders) error { return next.electLeaders(c, &res) })
	case AlterPartitionReassignments:
		err = next.alterPartitionReassignments(c, &res)
	case *AlterPartitionReassignments:
		err = ptr(c, func(c AlterPartitionReassignments) error { return next.alterPartitionReassignments(c, &res) })
	case nil:
		err = fail(ErrInvalidCommand, "nil command")
	default:
		err = fail(ErrInvalidCommand, "unknown command type %T", cmd)
	}
	if err != nil {
		return img, Result{}, err
	}
	res.Offset = next.offset
	return &next, res, nil
}

// ptr calls apply with *c, or fails for a nil pointer.
func ptr[C any](c *C, apply func(C) error) error {
	if c == nil {
		return fail(ErrInvalidCommand, "nil %T command", c)
	}
	return apply(*c)
}

func (next *Image) initCluster(c InitCluster) error {
	if c.ClusterID == "" || len(c.ClusterID) > 255 {
		return fail(ErrInvalidCommand, "cluster ID %q: want 1 to 255 characters", c.ClusterID)
	}
	if next.clusterID != "" && next.clusterID != c.ClusterID {
		return fail(ErrInconsistentClusterID, "cluster ID %q: this cluster is %q", c.ClusterID, next.clusterID)
	}
	next.clusterID = c.ClusterID
	return nil
}

func (next *Image) registerBroker(c RegisterBroker, res *Result) error {
	if c.ClusterID != "" && c.ClusterID != next.clusterID {
		return fail(ErrInconsistentClusterID, "broker %d belongs to cluster %q, not to this cluster %q", c.ID, c.ClusterID, next.clusterID)
	}
	switch {
	case c.ID < 0:
		return fail(ErrInvalidBroker, "broker ID %d: must not be negative", c.ID)
	case c.Host == "" || len(c.Host) > 255:
		return fail(ErrInvalidBroker, "broker %d: host %q must have 1 to 255 characters", c.ID, c.Host)
	case c.Port < 1 || c.Port > 65535:
		return fail(ErrInvalidBroker, "broker %d: port %d is not in 1..65535", c.ID, c.Port)
	case len(c.Rack) > 255:
		return fail(ErrInvalidBroker, "broker %d: rack is longer than 255 characters", c.ID)
	}
	old, existed := next.brokers[c.ID]
	b := Broker{ID: c.ID, Host: c.Host, Port: c.Port, Rack: c.Rack, Epoch: next.offset}
	next.putBroker(b)
	res.BrokerEpoch = b.Epoch
	e := next.editor()
	if existed && !old.Fenced {
		// The registration it replaces was live: that incarnation is
		// gone, and leads nothing at its old leader epochs.
		e.leaveBroker(b.ID, false)
	}
	e.electLeaderless()
	e.finish()
	return nil
}

// putBroker sets b in the broker map (copy-on-write).
func (next *Image) putBroker(b Broker) {
	next.brokers = maps.Clone(next.brokers)
	if next.brokers == nil {
		next.brokers = make(map[int32]Broker)
	}
	next.brokers[b.ID] = b
}

// ValidateTopicName checks a topic name against Kafka's rules: 1 to 249
// characters of ASCII letters, digits, '.', '_' and '-', and neither "."
// nor "..". It returns nil or an error wrapping ErrInvalidTopicName that
// names the problem. Collisions with existing topics are Apply's to find.
func ValidateTopicName(name string) error {
	return checkTopicName(name)
}

func checkTopicName(name string) error {
	switch {
	case name == "":
		return fail(ErrInvalidTopicName, "topic name is empty")
	case name == "." || name == "..":
		return fail(ErrInvalidTopicName, "topic name %q is not allowed", name)
	case len(name) > MaxTopicNameLength:
		return fail(ErrInvalidTopicName, "topic name %q... is %d characters long; the limit is %d", name[:40], len(name), MaxTopicNameLength)
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fail(ErrInvalidTopicName, "topic name %q contains %q; only ASCII letters, digits, '.', '_' and '-' are allowed", name, name[i:i+1])
		}
	}
	return nil
}

// collisionKey is the name Kafka compares to find topics whose metric
// names would clash.
func collisionKey(name string) string { return strings.ReplaceAll(name, ".", "_") }

func (next *Image) createTopic(c CreateTopic) error {
	if err := checkTopicName(c.Name); err != nil {
		return err
	}
	if _, ok := next.topics[c.Name]; ok {
		return fail(ErrTopicExists, "topic %q already exists", c.Name)
	}
	if strings.ContainsAny(c.Name, "._") {
		key := collisionKey(c.Name)
		for _, name := range next.TopicNames() {
			if collisionKey(name) == key {
				return errorf(ErrInvalidTopicName, []error{ErrTopicNameCollision},
					"topic name %q collides with existing topic %q ('.' and '_' are the same in metric names)", c.Name, name)
			}
		}
	}
	if c.ID.IsZero() {
		return fail(ErrInvalidCommand, "topic %q: the topic ID is all zero", c.Name)
	}
	if other, ok := next.topicIDs[c.ID]; ok {
		return fail(ErrInvalidCommand, "topic %q: topic ID %s is already used by topic %q", c.Name, c.ID, other.Name)
	}
	if n := len(c.Partitions); n < 1 || n > MaxPartitions {
		return fail(ErrInvalidPartitions, "topic %q: %d partitions; the count must be between 1 and %d", c.Name, n, MaxPartitions)
	}
	assignments := make([][]int32, len(c.Partitions))
	for i, p := range c.Partitions {
		assignments[i] = p.Replicas
	}
	parts, err := next.newPartitions(c.Name, 0, assignments, len(assignments[0]))
	if err != nil {
		return err
	}
	configs, err := alterConfigs("topic "+quote(c.Name), nil, c.Configs, nil, config.TopicTable(), config.ParseTopicValue)
	if err != nil {
		return err
	}
	next.putTopic(nil, &Topic{Name: c.Name, ID: c.ID, Configs: configs, Partitions: parts})
	return nil
}

// newPartitions checks the replica lists of partitions first, first+1, ...
// of topic and returns the new partitions. Every list must have rf
// distinct, registered, unfenced brokers.
func (next *Image) newPartitions(topic string, first int, assignments [][]int32, rf int) ([]Partition, error) {
	parts := make([]Partition, len(assignments))
	for i, replicas := range assignments {
		p := first + i
		if len(replicas) == 0 {
			return nil, fail(ErrInvalidReplicaAssignment, "partition %s-%d: the replica list is empty", topic, p)
		}
		if len(replicas) != rf {
			return nil, fail(ErrInvalidReplicaAssignment, "partition %s-%d has %d replicas where the topic's other partitions have %d; all must have the same replication factor", topic, p, len(replicas), rf)
		}
		for j, id := range replicas {
			if slices.Contains(replicas[:j], id) {
				return nil, fail(ErrInvalidReplicaAssignment, "partition %s-%d lists broker %d twice", topic, p, id)
			}
			b, ok := next.brokers[id]
			if !ok {
				return nil, fail(ErrInvalidReplicaAssignment, "partition %s-%d: broker %d is not registered", topic, p, id)
			}
			if b.Fenced {
				return nil, fail(ErrInvalidReplicaAssignment, "partition %s-%d: broker %d is fenced", topic, p, id)
			}
		}
		leader := int32(-1)
		if j := slices.IndexFunc(replicas, next.canLead); j >= 0 {
			leader = replicas[j] // the first, unless it is shutting down
		}
		parts[i] = Partition{Replicas: slices.Clone(replicas), ISR: slices.Clone(replicas), Leader: leader}
	}
	return parts, nil
}

// putTopic replaces old (nil for none) with t in the topic maps.
func (next *Image) putTopic(old, t *Topic) {
	next.topics, next.topicIDs = maps.Clone(next.topics), maps.Clone(next.topicIDs)
	if next.topics == nil {
		next.topics, next.topicIDs = make(map[string]*Topic), make(map[TopicID]*Topic)
	}
	if old != nil {
		delete(next.topics, old.Name)
		delete(next.topicIDs, old.ID)
	}
	if t != nil {
		next.topics[t.Name], next.topicIDs[t.ID] = t, t
	}
	if len(next.topics) == 0 {
		next.topics, next.topicIDs = nil, nil
	}
}

// topic returns the topic with the given ID or an ErrUnknownTopic error.
func (next *Image) topic(id TopicID) (*Topic, error) {
	if t, ok := next.topicIDs[id]; ok {
		return t, nil
	}
	return nil, fail(ErrUnknownTopic, "no topic has ID %s", id)
}

func (next *Image) deleteTopic(c DeleteTopic) error {
	t, err := next.topic(c.ID)
	if err != nil {
		return err
	}
	next.putTopic(t, nil)
	return nil
}

func (next *Image) createPartitions(c CreatePartitions) error {
	t, err := next.topic(c.TopicID)
	if err != nil {
		return err
	}
	have, adding := len(t.Partitions), len(c.Assignments)
	switch {
	case adding == 0:
		return fail(ErrInvalidPartitions, "topic %q already has %d partitions; the new count must be larger", t.Name, have)
	case c.Count != 0 && int(c.Count) != have+adding:
		return fail(ErrInvalidPartitions, "topic %q has %d partitions; adding %d does not make %d", t.Name, have, adding, c.Count)
	case have+adding > MaxPartitions:
		return fail(ErrInvalidPartitions, "topic %q: %d partitions is more than the limit of %d", t.Name, have+adding, MaxPartitions)
	}
	parts, err := next.newPartitions(t.Name, have, c.Assignments, len(t.Partitions[0].Replicas))
	if err != nil {
		return err
	}
	nt := *t
	nt.Partitions = append(slices.Clip(t.Partitions), parts...)
	next.putTopic(t, &nt)
	return nil
}

func (next *Image) alterTopicConfigs(c AlterTopicConfigs) error {
	t, err := next.topic(c.TopicID)
	if err != nil {
		return err
	}
	configs, err := alterConfigs("topic "+quote(t.Name), t.Configs, c.Set, c.Delete, config.TopicTable(), config.ParseTopicValue)
	if err != nil {
		return err
	}
	nt := *t
	nt.Configs = configs
	next.putTopic(t, &nt)
	return nil
}

func (next *Image) alterBrokerConfigs(c AlterBrokerConfigs) error {
	configs, err := alterConfigs("broker configs", next.brokerConfigs, c.Set, c.Delete, config.BrokerTable(), config.ParseBrokerValue)
	if err != nil {
		return err
	}
	next.brokerConfigs = configs
	return nil
}

func (next *Image) alterGroupConfigs(c AlterGroupConfigs) error {
	if c.Group == "" {
		return fail(ErrInvalidCommand, "group configs: the group name is empty")
	}
	configs, err := alterConfigs("group "+quote(c.Group), next.groupConfigs[c.Group], c.Set, c.Delete, config.GroupTable(), config.ParseGroupValue)
	if err != nil {
		return err
	}
	next.groupConfigs = maps.Clone(next.groupConfigs)
	if configs == nil {
		delete(next.groupConfigs, c.Group)
	} else {
		if next.groupConfigs == nil {
			next.groupConfigs = make(map[string]map[string]string)
		}
		next.groupConfigs[c.Group] = configs
	}
	if len(next.groupConfigs) == 0 {
		next.groupConfigs = nil
	}
	return nil
}

// alterConfigs returns old with set applied and del removed, every value
// checked with parse and stored in canonical form; nil when empty. Names
// are checked in sorted order, so the error is the same every time.
func alterConfigs(what string, old, set map[string]string, del []string, table *config.Table, parse func(name, s string) (config.Value, error)) (map[string]string, error) {
	out := maps.Clone(old)
	if out == nil {
		out = make(map[string]string, len(set))
	}
	for _, name := range slices.Sorted(maps.Keys(set)) {
		v, err := parse(name, set[name])
		if err != nil {
			return nil, errorf(ErrInvalidConfig, []error{err}, "%s: invalid config %v", what, err)
		}
		out[name] = v.String()
	}
	for _, name := range del {
		if _, ok := set[name]; ok {
			return nil, fail(ErrInvalidConfig, "%s: config %q is both set and deleted", what, name)
		}
		if _, ok := table.Lookup(name); !ok {
			_, err := table.Parse(name, "")
			return nil, errorf(ErrInvalidConfig, []error{err}, "%s: cannot delete config %v", what, err)
		}
		delete(out, name)
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

func (next *Image) allocateProducerIDs(c AllocateProducerIDs, res *Result) error {
	if c.Count < 1 || c.Count > MaxProducerIDBlock {
		return fail(ErrInvalidCommand, "allocate %d producer IDs: the count must be between 1 and %d", c.Count, MaxProducerIDBlock)
	}
	if next.nextProducerID > math.MaxInt64-c.Count {
		return fail(ErrInvalidCommand, "allocate %d producer IDs: the producer ID space is exhausted", c.Count)
	}
	res.FirstProducerID = next.nextProducerID
	next.nextProducerID += c.Count
	return nil
}

func quote(s string) string { return `"` + s + `"` }

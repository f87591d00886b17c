package controller

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Command is one change to the cluster metadata: one of InitCluster,
// RegisterBroker, CreateTopic, DeleteTopic, CreatePartitions,
// AlterTopicConfigs, AlterBrokerConfigs, AlterGroupConfigs,
// AllocateProducerIDs, and the cluster commands FenceBroker,
// UnfenceBroker, ControlledShutdown, AlterPartition, ElectLeaders and
// AlterPartitionReassignments (a value or a pointer to one). Everything Apply needs is in the command — IDs and
// names are chosen by whoever submits it — so that replaying the same
// commands always gives the same Image. MarshalCommand and
// UnmarshalCommand give a command's durable form.
type Command interface {
	// commandType names the command in its serialised form.
	commandType() string
}

// CommandVersion is the version of the commands this build writes. A
// change to what a command means, or to what Apply accepts, must come with
// a new version, and Apply must keep the old rules for commands of the old
// version, or the same log would replay into different images on different
// builds (Raft voters upgrade one at a time).
//
// A new command type needs no new version: no log written by an older
// build holds it, so every build that reads it applies it with the same
// rules, and an older build refuses to decode it (an unknown type) rather
// than applying it differently. Finish upgrading every node before
// submitting one. AlterGroupConfigs was added this way, and so were the
// cluster commands (FenceBroker, ..., AlterPartitionReassignments).
//
// The cluster commands came with two changes to older commands, also
// without a new version, because no replicated log predates them: a
// RegisterBroker that replaces a live registration now moves the old
// incarnation's leaderships (bumping leader epochs) and elects leaderless
// partitions, and CreateTopic does not make a broker in controlled
// shutdown leader. An older single-node metadata.log replays into the
// same topics and brokers, with leader epochs that can only be higher.
const CommandVersion = 1

// InitCluster sets the cluster ID. It is the first command of a cluster;
// applying it again with the same ID is allowed (and changes nothing but
// the Offset), with another ID it fails with ErrInconsistentClusterID.
type InitCluster struct {
	ClusterID string `json:"cluster_id"` // Kafka's form: base64url of 16 bytes
}

// RegisterBroker registers a broker or re-registers it with a new address
// and rack; a broker registers on every start. The broker's Epoch becomes
// the Offset of the resulting image, it is unfenced and out of controlled
// shutdown, and it keeps its replicas. Leaderless partitions with it in the
// ISR get it as leader. When the registration it replaces was live (a
// restart faster than the session timeout), the old incarnation is first
// fenced as FenceBroker does: partitions it led go to another ISR member,
// or, when it was the last, stay with it at a new leader epoch, so that a
// restarted broker never leads at the leader epoch of its previous life.
type RegisterBroker struct {
	// ClusterID, when set, must be the image's cluster ID.
	ClusterID string `json:"cluster_id,omitempty"`
	ID        int32  `json:"id"`
	Host      string `json:"host"`
	Port      int32  `json:"port"`
	Rack      string `json:"rack,omitempty"`
}

// PartitionAssignment is the replica list of one new partition; the first
// replica becomes its leader.
type PartitionAssignment struct {
	Replicas []int32 `json:"replicas"`
}

// CreateTopic creates a topic. Each partition's ISR is its replica list,
// its leader the first replica, its leader and partition epochs 0.
type CreateTopic struct {
	Name       string                `json:"name"`
	ID         TopicID               `json:"id"` // chosen by the submitter; not zero
	Partitions []PartitionAssignment `json:"partitions"`
	// Configs are the topic's overrides, Kafka names and string form,
	// each checked with config.ParseTopicValue and stored in canonical
	// form.
	Configs map[string]string `json:"configs,omitempty"`
}

// DeleteTopic deletes a topic.
type DeleteTopic struct {
	ID TopicID `json:"id"`
}

// CreatePartitions adds partitions to a topic, one per assignment.
type CreatePartitions struct {
	TopicID     TopicID   `json:"topic_id"`
	Assignments [][]int32 `json:"assignments"`
	// Count, when not 0, is the partition count the topic must have after
	// the command (Kafka's CreatePartitions count): a command computed
	// from an older image that another one has overtaken then fails with
	// ErrInvalidPartitions instead of adding partitions twice.
	Count int32 `json:"count,omitempty"`
}

// AlterTopicConfigs sets and deletes topic config overrides. A name may
// not be both set and deleted; deleting an override that is not set is
// allowed.
type AlterTopicConfigs struct {
	TopicID TopicID           `json:"topic_id"`
	Set     map[string]string `json:"set,omitempty"`
	Delete  []string          `json:"delete,omitempty"`
}

// AlterBrokerConfigs sets and deletes the cluster-wide dynamic broker
// config overrides, checked with config.ParseBrokerValue.
type AlterBrokerConfigs struct {
	Set    map[string]string `json:"set,omitempty"`
	Delete []string          `json:"delete,omitempty"`
}

// AlterGroupConfigs sets and deletes the config overrides of a consumer
// group (Kafka's GROUP config resource, KIP-848), checked with
// config.ParseGroupValue: only the names in config.GroupTable. A name may
// not be both set and deleted; deleting an override that is not set is
// allowed. The group need not exist: its configs are kept by name, apart
// from the group's own state in __consumer_offsets. Values that name
// something outside the metadata (weir.assignor's assignor) are the
// submitter's to check.
type AlterGroupConfigs struct {
	Group  string            `json:"group"` // not empty
	Set    map[string]string `json:"set,omitempty"`
	Delete []string          `json:"delete,omitempty"`
}

// AllocateProducerIDs hands out Count consecutive producer IDs; the
// Result's FirstProducerID is the first.
type AllocateProducerIDs struct {
	Count int64 `json:"count"` // 1..MaxProducerIDBlock
}

func (InitCluster) commandType() string         { return "InitCluster" }
func (RegisterBroker) commandType() string      { return "RegisterBroker" }
func (CreateTopic) commandType() string         { return "CreateTopic" }
func (DeleteTopic) commandType() string         { return "DeleteTopic" }
func (CreatePartitions) commandType() string    { return "CreatePartitions" }
func (AlterTopicConfigs) commandType() string   { return "AlterTopicConfigs" }
func (AlterBrokerConfigs) commandType() string  { return "AlterBrokerConfigs" }
func (AlterGroupConfigs) commandType() string   { return "AlterGroupConfigs" }
func (AllocateProducerIDs) commandType() string { return "AllocateProducerIDs" }

// newCommand returns a pointer to a zero command of the named type.
func newCommand(typ string) Command {
	switch typ {
	case "InitCluster":
		return &InitCluster{}
	case "RegisterBroker":
		return &RegisterBroker{}
	case "CreateTopic":
		return &CreateTopic{}
	case "DeleteTopic":
		return &DeleteTopic{}
	case "CreatePartitions":
		return &CreatePartitions{}
	case "AlterTopicConfigs":
		return &AlterTopicConfigs{}
	case "AlterBrokerConfigs":
		return &AlterBrokerConfigs{}
	case "AlterGroupConfigs":
		return &AlterGroupConfigs{}
	case "AllocateProducerIDs":
		return &AllocateProducerIDs{}
	case "AlterPartition":
		return &AlterPartition{}
	case "FenceBroker":
		return &FenceBroker{}
	case "UnfenceBroker":
		return &UnfenceBroker{}
	case "ControlledShutdown":
		return &ControlledShutdown{}
	case "ElectLeaders":
		return &ElectLeaders{}
	case "AlterPartitionReassignments":
		return &AlterPartitionReassignments{}
	}
	return nil
}

// Result is what applying a command produced.
type Result struct {
	// Offset is the Offset of the image the command produced.
	Offset int64
	// BrokerEpoch is the registered broker's epoch (RegisterBroker).
	BrokerEpoch int64
	// FirstProducerID is the first ID of the allocated block
	// (AllocateProducerIDs).
	FirstProducerID int64
	// LeaderEpoch and PartitionEpoch are the partition's epochs after an
	// AlterPartition.
	LeaderEpoch    int32
	PartitionEpoch int32
	// Partitions is the per-partition outcome of ElectLeaders and
	// AlterPartitionReassignments; the caller's.
	Partitions []PartitionResult
}

// envelope is a command's durable form.
type envelope struct {
	Version int             `json:"version"`
	Type    string          `json:"type"`
	Command json.RawMessage `json:"command"`
}

// MarshalCommand encodes cmd as JSON with its type and CommandVersion. The
// same command always encodes to the same bytes (map keys are sorted). It
// returns an error wrapping ErrInvalidCommand for a nil or foreign
// command.
func MarshalCommand(cmd Command) ([]byte, error) {
	if isNil(cmd) {
		return nil, fail(ErrInvalidCommand, "nil command")
	}
	body, err := marshal(cmd)
	if err != nil {
		return nil, fail(ErrInvalidCommand, "encode %s: %v", cmd.commandType(), err)
	}
	return marshal(envelope{Version: CommandVersion, Type: cmd.commandType(), Command: body})
}

// UnmarshalCommand decodes a command encoded by MarshalCommand, returning a
// pointer to it (*CreateTopic, ...). Unknown fields, unknown types and
// versions other than CommandVersion give an error wrapping
// ErrInvalidCommand.
func UnmarshalCommand(data []byte) (Command, error) {
	var env envelope
	if err := unmarshalStrict(data, &env); err != nil {
		return nil, fail(ErrInvalidCommand, "decode command: %v", err)
	}
	if env.Version != CommandVersion {
		return nil, fail(ErrInvalidCommand, "command version %d is not supported (this build reads %d)", env.Version, CommandVersion)
	}
	cmd := newCommand(env.Type)
	if cmd == nil {
		return nil, fail(ErrInvalidCommand, "unknown command type %q", env.Type)
	}
	if err := unmarshalStrict(env.Command, cmd); err != nil {
		return nil, fail(ErrInvalidCommand, "decode %s: %v", env.Type, err)
	}
	return cmd, nil
}

// isNil reports whether cmd is nil or a nil pointer.
func isNil(cmd Command) bool {
	switch c := cmd.(type) {
	case nil:
		return true
	case *InitCluster:
		return c == nil
	case *RegisterBroker:
		return c == nil
	case *CreateTopic:
		return c == nil
	case *DeleteTopic:
		return c == nil
	case *CreatePartitions:
		return c == nil
	case *AlterTopicConfigs:
		return c == nil
	case *AlterBrokerConfigs:
		return c == nil
	case *AlterGroupConfigs:
		return c == nil
	case *AllocateProducerIDs:
		return c == nil
	case *AlterPartition:
		return c == nil
	case *FenceBroker:
		return c == nil
	case *UnfenceBroker:
		return c == nil
	case *ControlledShutdown:
		return c == nil
	case *ElectLeaders:
		return c == nil
	case *AlterPartitionReassignments:
		return c == nil
	}
	return false
}

// marshal is json.Marshal without HTML escaping, so names with < > & stay
// readable in the file.
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// unmarshalStrict decodes exactly one JSON value into v, refusing unknown
// fields and trailing data.
func unmarshalStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("trailing data after the JSON value")
	}
	return nil
}

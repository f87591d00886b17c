package abi

import (
	"encoding/json"

	"github.com/weirmq/weir/sdk"
)

// The weir_assign hook is called once per group rebalance, so its input
// and output are JSON (UTF-8, no byte-order mark) rather than a binary
// layout. Field names are snake_case; omitted fields take their zero
// value.

// AssignRequest is the JSON weir_assign receives:
//
//	{"members": [{"member_id": "m1", "instance_id": "i1", "rack": "r1",
//	              "topics": ["t"], "user_data": "<base64>",
//	              "owned": {"t": [0, 1]}, "generation": 3}],
//	 "topics": {"t": {"partitions": 4, "partition_racks": [["r1"], ...]}}}
type AssignRequest struct {
	Members []AssignMember         `json:"members"`
	Topics  map[string]AssignTopic `json:"topics"`
}

// AssignMember is one group member in an AssignRequest; the fields mean
// what sdk.GroupMember's do.
type AssignMember struct {
	MemberID   string             `json:"member_id"`
	InstanceID string             `json:"instance_id,omitempty"`
	Rack       string             `json:"rack,omitempty"`
	Topics     []string           `json:"topics"`
	UserData   []byte             `json:"user_data,omitempty"` // base64 in JSON
	Owned      map[string][]int32 `json:"owned,omitempty"`
	Generation int32              `json:"generation,omitempty"`
}

// AssignTopic describes one topic in an AssignRequest.
type AssignTopic struct {
	Partitions     int32      `json:"partitions"`
	PartitionRacks [][]string `json:"partition_racks,omitempty"`
}

// AssignResponse is the JSON weir_assign answers:
//
//	{"assignment": {"m1": {"t": [0, 2]}, "m2": {"t": [1, 3]}}}
type AssignResponse struct {
	Assignment map[string]map[string][]int32 `json:"assignment"`
}

// EncodeAssignInput returns the weir_assign input for in.
func EncodeAssignInput(in sdk.AssignInput) ([]byte, error) {
	req := AssignRequest{Members: make([]AssignMember, len(in.Members)), Topics: make(map[string]AssignTopic, len(in.Topics))}
	for i, m := range in.Members {
		req.Members[i] = AssignMember{
			MemberID: m.MemberID, InstanceID: m.InstanceID, Rack: m.Rack,
			Topics: m.Topics, UserData: m.UserData, Owned: m.Owned, Generation: m.Generation,
		}
		if req.Members[i].Topics == nil {
			req.Members[i].Topics = []string{}
		}
	}
	for name, t := range in.Topics {
		req.Topics[name] = AssignTopic{Partitions: t.Partitions, PartitionRacks: t.PartitionRacks}
	}
	return json.Marshal(req)
}

// DecodeAssignInput decodes a weir_assign input into an sdk.AssignInput
// that shares no memory with src. It returns an error wrapping
// ErrMalformed for invalid JSON.
func DecodeAssignInput(src []byte) (sdk.AssignInput, error) {
	var req AssignRequest
	if err := json.Unmarshal(src, &req); err != nil {
		return sdk.AssignInput{}, malformed("assign input: %v", err)
	}
	in := sdk.AssignInput{Members: make([]sdk.GroupMember, len(req.Members)), Topics: make(map[string]sdk.TopicMetadata, len(req.Topics))}
	for i, m := range req.Members {
		in.Members[i] = sdk.GroupMember{
			MemberID: m.MemberID, InstanceID: m.InstanceID, Rack: m.Rack,
			Topics: m.Topics, UserData: m.UserData, Owned: m.Owned, Generation: m.Generation,
		}
	}
	for name, t := range req.Topics {
		in.Topics[name] = sdk.TopicMetadata{Partitions: t.Partitions, PartitionRacks: t.PartitionRacks}
	}
	return in, nil
}

// EncodeAssignOutput returns the weir_assign answer for a.
func EncodeAssignOutput(a sdk.Assignment) ([]byte, error) {
	resp := AssignResponse{Assignment: make(map[string]map[string][]int32, len(a))}
	for member, tps := range a {
		m := make(map[string][]int32, len(tps))
		for t, ps := range tps {
			if ps == nil {
				ps = []int32{}
			}
			m[t] = ps
		}
		resp.Assignment[member] = m
	}
	return json.Marshal(resp)
}

// DecodeAssignOutput decodes a weir_assign answer into an sdk.Assignment
// that shares no memory with src. Every member gets a non-nil
// TopicPartitions. It returns an error wrapping ErrMalformed for invalid
// JSON or a missing "assignment"; whether the assignment is valid for the
// group is sdk.Assignment.Check's business.
func DecodeAssignOutput(src []byte) (sdk.Assignment, error) {
	var resp AssignResponse
	if err := json.Unmarshal(src, &resp); err != nil {
		return nil, malformed("assign output: %v", err)
	}
	if resp.Assignment == nil {
		return nil, malformed(`assign output: no "assignment" object`)
	}
	a := make(sdk.Assignment, len(resp.Assignment))
	for member, tps := range resp.Assignment {
		m := make(sdk.TopicPartitions, len(tps))
		for t, ps := range tps {
			m[t] = ps
		}
		a[member] = m
	}
	return a, nil
}

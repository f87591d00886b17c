package sdk

import (
	"context"
	"errors"
	"strings"
	"testing"
)

type fakeAssignor struct{ name string }

func (a fakeAssignor) Name() string { return a.name }
func (a fakeAssignor) Assign(context.Context, AssignInput) (Assignment, error) {
	return Assignment{}, nil
}

func TestRegisterAssignorRejectsNilEmptyAndDuplicates(t *testing.T) {
	r := NewRegistry()
	if err := r.RegisterAssignor(fakeAssignor{"uniform"}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		a    Assignor
		want string
	}{
		{nil, "nil assignor"},
		{fakeAssignor{""}, "empty name"},
		{fakeAssignor{"uniform"}, `"uniform": name already registered`},
	} {
		err := r.RegisterAssignor(tc.a)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("RegisterAssignor(%v) = %v, want an error containing %q", tc.a, err, tc.want)
		}
	}
	if a, ok := r.Assignor("uniform"); !ok || a.Name() != "uniform" {
		t.Fatal("registered assignor not found")
	}
	if _, ok := r.Assignor(""); ok {
		t.Fatal("a rejected assignor was registered")
	}
}

func TestAssignInputValidate(t *testing.T) {
	topics := map[string]TopicMetadata{"t": {Partitions: 2}}
	for _, tc := range []struct {
		name string
		in   AssignInput
		want string // "" for valid
	}{
		{"empty", AssignInput{}, ""},
		{"valid", AssignInput{
			Members: []GroupMember{{MemberID: "a", InstanceID: "i"}, {MemberID: "b"}, {MemberID: "c"}},
			Topics:  map[string]TopicMetadata{"t": {Partitions: 2, PartitionRacks: [][]string{{"r1"}, nil}}, "empty": {}},
		}, ""},
		{"empty member id", AssignInput{Members: []GroupMember{{MemberID: "a"}, {}}, Topics: topics}, "member 1 has an empty member id"},
		{"duplicate member id", AssignInput{Members: []GroupMember{{MemberID: "a"}, {MemberID: "a"}}}, `member id "a" appears twice`},
		{"duplicate instance id", AssignInput{Members: []GroupMember{{MemberID: "a", InstanceID: "i"}, {MemberID: "b", InstanceID: "i"}}}, `members "a" and "b" have the same instance id "i"`},
		{"empty topic name", AssignInput{Topics: map[string]TopicMetadata{"": {Partitions: 1}}}, "empty name"},
		{"negative partitions", AssignInput{Topics: map[string]TopicMetadata{"t": {Partitions: -3}}}, `topic "t" has a negative partition count (-3)`},
		{"racks", AssignInput{Topics: map[string]TopicMetadata{"t": {Partitions: 2, PartitionRacks: [][]string{{"r"}}}}}, `topic "t" has 2 partitions but racks for 1`},
	} {
		err := tc.in.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != "" && (!errors.Is(err, ErrInvalidAssignInput) || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: got %v, want an ErrInvalidAssignInput containing %q", tc.name, err, tc.want)
		}
	}
}

func TestAssignmentCheck(t *testing.T) {
	in := AssignInput{
		Members: []GroupMember{
			{MemberID: "a", Topics: []string{"t", "u"}},
			{MemberID: "b", Topics: []string{"t", "ghost"}},
		},
		Topics: map[string]TopicMetadata{"t": {Partitions: 3}, "u": {Partitions: 1}},
	}
	for _, tc := range []struct {
		name string
		a    Assignment
		want string // "" for valid
	}{
		{"valid", Assignment{"a": {"t": {0, 2}, "u": {0}}, "b": {"t": {1}}}, ""},
		{"valid, partitions left out", Assignment{"a": {}, "b": {"t": {1}}}, ""},
		{"missing member", Assignment{"a": {}}, `member "b" has no entry`},
		{"unknown member", Assignment{"a": {}, "b": {}, "c": {}}, `"c" is not a member`},
		{"not subscribed", Assignment{"a": {}, "b": {"u": {0}}}, `"b" is given topic "u", which it does not subscribe to`},
		{"unknown topic", Assignment{"a": {}, "b": {"ghost": {0}}}, `unknown topic "ghost"`},
		{"out of range", Assignment{"a": {"t": {3}}, "b": {}}, "t-3, which does not exist (3 partitions)"},
		{"negative", Assignment{"a": {"t": {-1}}, "b": {}}, "t--1, which does not exist"},
		{"unsorted", Assignment{"a": {"t": {1, 0}}, "b": {}}, "not sorted and distinct: 1 then 0"},
		{"duplicate", Assignment{"a": {"t": {1, 1}}, "b": {}}, "not sorted and distinct: 1 then 1"},
		{"twice", Assignment{"a": {"t": {1}}, "b": {"t": {1}}}, `t-1 is given to both "a" and "b"`},
	} {
		err := tc.a.Check(in)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != "" && (!errors.Is(err, ErrInvalidAssignment) || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: got %v, want an ErrInvalidAssignment containing %q", tc.name, err, tc.want)
		}
	}
}

package goplugin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/weirmq/weir/sdk"
	"github.com/weirmq/weir/sdk/goplugin/wire"
)

type fixedPartitioner struct{ err error }

func (fixedPartitioner) Name() string { return "fixed" }
func (p fixedPartitioner) Partition(_ context.Context, in sdk.PartitionInput, out []int32) error {
	if len(in.Keys) > 0 && string(in.Keys[0]) == "panic" {
		panic("key says panic")
	}
	for i := range out {
		out[i] = in.NumPartitions - 1
	}
	return p.err
}

type everyoneGetsNothing struct{}

func (everyoneGetsNothing) Name() string { return "nothing" }
func (everyoneGetsNothing) Assign(_ context.Context, in sdk.AssignInput) (sdk.Assignment, error) {
	a := sdk.Assignment{}
	for _, m := range in.Members {
		a[m.MemberID] = sdk.TopicPartitions{}
	}
	return a, nil
}

func TestServerAnswersEachMethod(t *testing.T) {
	var configured json.RawMessage
	s := &server{p: Plugins{
		Partitioner: fixedPartitioner{},
		Assignor:    everyoneGetsNothing{},
		Configure: func(_ context.Context, c json.RawMessage) error {
			configured = c
			if strings.Contains(string(c), "bad") {
				return errors.New("bad config")
			}
			return nil
		},
	}}
	s.points = s.p.points()
	ctx := context.Background()

	payload, err := wire.ParseReply(s.handle(ctx, wire.Describe, nil))
	if err != nil {
		t.Fatal(err)
	}
	points, err := wire.DecodeDescription(payload)
	if err != nil || len(points) != 2 || points[0] != (wire.Point{Kind: wire.KindPartitioner, Name: "fixed"}) || points[1] != (wire.Point{Kind: wire.KindAssignor, Name: "nothing"}) {
		t.Fatalf("Describe: %v %v", points, err)
	}
	if _, err := wire.ParseReply(s.handle(ctx, wire.Configure, []byte(`{"x":1}`))); err != nil || string(configured) != `{"x":1}` {
		t.Fatalf("Configure: %v, config %s", err, configured)
	}
	if _, err := wire.ParseReply(s.handle(ctx, wire.Configure, []byte(`{"bad":1}`))); err == nil || err.Error() != "bad config" {
		t.Fatalf("Configure with a rejected config: %v", err)
	}

	req := wire.EncodePartitionRequest(nil, sdk.PartitionInput{Topic: "t", NumPartitions: 5, Keys: [][]byte{nil, []byte("k")}})
	payload, err = wire.ParseReply(s.handle(ctx, wire.Partition, req))
	out := make([]int32, 2)
	if err != nil || wire.DecodePartitions(payload, out) != nil || out[0] != 4 || out[1] != 4 {
		t.Fatalf("Partition: %v %v", out, err)
	}
	req = wire.EncodePartitionRequest(nil, sdk.PartitionInput{Topic: "t", NumPartitions: 5, Keys: [][]byte{[]byte("panic")}})
	if _, err := wire.ParseReply(s.handle(ctx, wire.Partition, req)); err == nil || !strings.Contains(err.Error(), "Partition panicked: key says panic") {
		t.Fatalf("a panicking partitioner: %v", err)
	}
	if _, err := wire.ParseReply(s.handle(ctx, wire.Partition, []byte{0xff})); !strings.Contains(errString(err), "malformed") {
		t.Fatalf("a malformed request: %v", err)
	}

	in := sdk.AssignInput{Members: []sdk.GroupMember{{MemberID: "a"}, {MemberID: "b"}}}
	payload, err = wire.ParseReply(s.handle(ctx, wire.Assign, wire.EncodeAssignInput(nil, in)))
	if err != nil {
		t.Fatal(err)
	}
	if a, err := wire.DecodeAssignment(payload); err != nil || len(a) != 2 {
		t.Fatalf("Assign: %v %v", a, err)
	}

	// A point the binary does not serve, and a method nobody knows.
	for m, want := range map[wire.Method]string{wire.Filter: "serves no compaction filter", "Frobnicate": `unknown method "Frobnicate"`} {
		if _, err := wire.ParseReply(s.handle(ctx, m, nil)); !strings.Contains(errString(err), want) {
			t.Errorf("%s: %v, want %q", m, err, want)
		}
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestDeclineTravelsAsDecline(t *testing.T) {
	s := &server{p: Plugins{Partitioner: fixedPartitioner{err: sdk.ErrDecline}}}
	req := wire.EncodePartitionRequest(nil, sdk.PartitionInput{Topic: "t", NumPartitions: 1, Keys: [][]byte{nil}})
	if _, err := wire.ParseReply(s.handle(context.Background(), wire.Partition, req)); !errors.Is(err, sdk.ErrDecline) {
		t.Fatalf("declining partitioner: %v", err)
	}
	s = &server{p: Plugins{Partitioner: fixedPartitioner{err: errors.New("no")}}}
	var remote *wire.RemoteError
	if _, err := wire.ParseReply(s.handle(context.Background(), wire.Partition, req)); !errors.As(err, &remote) || remote.Msg != "no" {
		t.Fatalf("failing partitioner: %v", err)
	}
}

func TestLoggerWritesHclogJSON(t *testing.T) {
	var buf bytes.Buffer
	old := stderr
	stderr = &buf
	defer func() { stderr = old }()
	Logger().Warn("disk almost full", "free_mb", 12)
	var entry map[string]any
	if err := json.Unmarshal(buf.Bytes(), &entry); err != nil {
		t.Fatalf("%q: %v", buf.String(), err)
	}
	if entry["@level"] != "warn" || entry["@message"] != "disk almost full" || entry["free_mb"] != 12.0 || entry["@timestamp"] == nil {
		t.Fatalf("log entry %v", entry)
	}
}

// serveEnv makes the test binary act as a plugin binary calling Serve.
const serveEnv = "GOPLUGIN_TEST_SERVE"

func TestMain(m *testing.M) {
	switch os.Getenv(serveEnv) {
	case "empty":
		Serve(Plugins{})
	case "partitioner":
		Serve(Plugins{Partitioner: fixedPartitioner{}})
	}
	os.Exit(m.Run())
}

func TestServeRefusesToRunWrongly(t *testing.T) {
	for _, tc := range []struct{ mode, want string }{
		{"empty", "nothing to serve"},
		{"partitioner", "This binary is a plugin"}, // run by hand, not by Weir
	} {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), serveEnv+"="+tc.mode)
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 1 || !strings.Contains(string(out), tc.want) {
			t.Errorf("%s: exit %v, output %q; want exit status 1 saying %q", tc.mode, err, out, tc.want)
		}
	}
}

package server

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestCreateTopicsWithKadm(t *testing.T) {
	tb := startBroker(t, "", "[broker]\n\"num.partitions\" = 4\n")
	ctx := adminCtx(t)
	adm := tb.admin()
	resps, err := adm.CreateTopics(ctx, 3, 1, map[string]*string{"retention.ms": kadm.StringPtr("60000")}, "orders", "payments")
	if err != nil {
		t.Fatal(err)
	}
	img := tb.meta.Image()
	for _, r := range resps.Sorted() {
		if r.Err != nil {
			t.Fatalf("%s: %v (%s)", r.Topic, r.Err, r.ErrMessage)
		}
		if r.NumPartitions != 3 || r.ReplicationFactor != 1 {
			t.Errorf("%s: %d partitions, rf %d", r.Topic, r.NumPartitions, r.ReplicationFactor)
		}
		if c := r.Configs["retention.ms"]; c.MaybeValue() != "60000" || c.Source != kmsg.ConfigSourceDynamicTopicConfig {
			t.Errorf("%s: retention.ms %q from %v", r.Topic, c.MaybeValue(), c.Source)
		}
		if c := r.Configs["segment.bytes"]; c.MaybeValue() != "1073741824" || c.Source != kmsg.ConfigSourceDefaultConfig {
			t.Errorf("%s: segment.bytes %q from %v", r.Topic, c.MaybeValue(), c.Source)
		}
		topic, ok := img.TopicByName(r.Topic)
		if !ok || [16]byte(topic.ID) != [16]byte(r.ID) || len(topic.Partitions) != 3 {
			t.Fatalf("%s: image has %+v (ok %v), response ID %v", r.Topic, topic, ok, r.ID)
		}
		for p := int32(0); p < 3; p++ {
			if tb.b.partition(r.Topic, p) == nil {
				t.Errorf("%s-%d is not open", r.Topic, p)
			}
		}
	}
	if tc, _ := tb.b.topicConfig("orders"); tc.RetentionMs != 60000 {
		t.Errorf("orders runs with retention.ms %d", tc.RetentionMs)
	}

	resps, err = adm.CreateTopics(ctx, 1, 1, nil, "orders")
	if err != nil || !errors.Is(resps["orders"].Err, kerr.TopicAlreadyExists) {
		t.Errorf("creating orders again: %v, %v", err, resps["orders"].Err)
	}

	// -1 takes num.partitions and default.replication.factor.
	resps, err = adm.CreateTopics(ctx, -1, -1, nil, "defaults")
	if err != nil || resps["defaults"].Err != nil || resps["defaults"].NumPartitions != 4 {
		t.Errorf("defaults: %v, %+v", err, resps["defaults"])
	}
}

func TestValidateCreateTopicsCreatesNothing(t *testing.T) {
	tb := startBroker(t, "", "")
	ctx := adminCtx(t)
	adm := tb.admin()
	resps, err := adm.ValidateCreateTopics(ctx, 2, 1, map[string]*string{"cleanup.policy": kadm.StringPtr("compact")}, "dry")
	if err != nil || resps["dry"].Err != nil {
		t.Fatalf("validate: %v, %+v", err, resps["dry"])
	}
	if r := resps["dry"]; r.NumPartitions != 2 || cfgValue(r.Configs["cleanup.policy"]) != "compact" {
		t.Errorf("validated topic described as %+v", r)
	}
	if _, ok := tb.meta.Image().TopicByName("dry"); ok {
		t.Fatal("validate_only created the topic")
	}
	if _, err := os.Stat(filepath.Join(tb.dir, "dry-0")); !os.IsNotExist(err) {
		t.Fatalf("validate_only made a partition directory: %v", err)
	}

	// The controller's own rules run too: "a.b" collides with "a_b".
	tb.createTopic(t, "a_b", 1, nil)
	resps, err = adm.ValidateCreateTopics(ctx, 1, 1, nil, "a.b")
	if err != nil || !errors.Is(resps["a.b"].Err, kerr.InvalidTopicException) {
		t.Errorf("validating a.b: %v, %v", err, resps["a.b"].Err)
	}
	resps, err = adm.ValidateCreateTopics(ctx, 1, 1, map[string]*string{"segment.bytes": kadm.StringPtr("ten")}, "badcfg")
	if err != nil || !errors.Is(resps["badcfg"].Err, kerr.InvalidConfig) || !strings.Contains(resps["badcfg"].ErrMessage, "segment.bytes") {
		t.Errorf("validating a bad config: %v, %+v", err, resps["badcfg"])
	}

	// A request is validated as a whole: its second topic collides with
	// its first.
	req := kmsg.NewPtrCreateTopicsRequest()
	req.ValidateOnly = true
	for _, name := range []string{"x.y", "x_y"} {
		rt := kmsg.NewCreateTopicsRequestTopic()
		rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, 1, 1
		req.Topics = append(req.Topics, rt)
	}
	resp, err := req.RequestWith(ctx, tb.client())
	if err != nil {
		t.Fatal(err)
	}
	checkCode(t, "x.y", resp.Topics[0].ErrorCode, resp.Topics[0].ErrorMessage, noError, "")
	checkCode(t, "x_y", resp.Topics[1].ErrorCode, resp.Topics[1].ErrorMessage, kerr.InvalidTopicException, "x.y")
	if tb.meta.Image().TopicCount() != 1 {
		t.Errorf("validate_only created topics: %v", tb.meta.Image().TopicNames())
	}
}

func newCreateTopic(name string, partitions int32, rf int16, configs ...string) kmsg.CreateTopicsRequestTopic {
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = name, partitions, rf
	for i := 0; i+1 < len(configs); i += 2 {
		c := kmsg.NewCreateTopicsRequestTopicConfig()
		c.Name, c.Value = configs[i], kmsg.StringPtr(configs[i+1])
		rt.Configs = append(rt.Configs, c)
	}
	return rt
}

func withAssignment(rt kmsg.CreateTopicsRequestTopic, partition int32, replicas ...int32) kmsg.CreateTopicsRequestTopic {
	a := kmsg.NewCreateTopicsRequestTopicReplicaAssignment()
	a.Partition, a.Replicas = partition, replicas
	rt.ReplicaAssignment = append(rt.ReplicaAssignment, a)
	return rt
}

func TestCreateTopicsRefusals(t *testing.T) {
	tb := startBroker(t, "", "")
	ctx := adminCtx(t)
	tb.createTopic(t, "exists", 1, nil)
	cases := []struct {
		name    string
		topic   kmsg.CreateTopicsRequestTopic
		want    *kerr.Error
		msgPart string
	}{
		{"bad value", newCreateTopic("t1", 1, 1, "segment.bytes", "10"), kerr.InvalidConfig, "segment.bytes"},
		{"wrong type", newCreateTopic("t1", 1, 1, "retention.ms", "soon"), kerr.InvalidConfig, "retention.ms"},
		{"unknown config", newCreateTopic("t1", 1, 1, "retention.mss", "1"), kerr.InvalidConfig, "retention.mss"},
		{"configs that conflict", newCreateTopic("t1", 1, 1, "min.compaction.lag.ms", "10", "max.compaction.lag.ms", "5"), kerr.InvalidConfig, "compaction.lag.ms"},
		{"config given twice", newCreateTopic("t1", 1, 1, "retention.ms", "1", "retention.ms", "2"), kerr.InvalidConfig, "retention.ms"},
		{"bad name", newCreateTopic("bad name!", 1, 1), kerr.InvalidTopicException, "bad name!"},
		{"existing", newCreateTopic("exists", 1, 1), kerr.TopicAlreadyExists, "exists"},
		{"zero partitions", newCreateTopic("t1", 0, 1), kerr.InvalidPartitions, "t1"},
		{"rf above the brokers", newCreateTopic("t1", 1, 3), kerr.InvalidReplicationFactor, "3"},
		{"zero rf", newCreateTopic("t1", 1, 0), kerr.InvalidReplicationFactor, "t1"},
		{"unknown broker", withAssignment(newCreateTopic("t1", -1, -1), 0, 99), kerr.InvalidReplicaAssignment, "99"},
		{"broker twice", withAssignment(newCreateTopic("t1", -1, -1), 0, 1, 1), kerr.InvalidReplicaAssignment, "twice"},
		{"gap in partitions", withAssignment(withAssignment(newCreateTopic("t1", -1, -1), 0, 1), 2, 1), kerr.InvalidReplicaAssignment, "t1"},
		{"count and assignment", withAssignment(newCreateTopic("t1", 2, -1), 0, 1), kerr.InvalidRequest, "t1"},
	}
	for _, v := range []int16{2, 5, 7} {
		cl := tb.pinnedClient(19, v)
		for _, c := range cases {
			req := kmsg.NewPtrCreateTopicsRequest()
			req.Topics = append(req.Topics, c.topic)
			resp, err := req.RequestWith(ctx, cl)
			if err != nil {
				t.Fatal(err)
			}
			if resp.Version != v {
				t.Fatalf("sent v%d, want v%d", resp.Version, v)
			}
			st := resp.Topics[0]
			checkCode(t, fmt.Sprintf("v%d %s", v, c.name), st.ErrorCode, st.ErrorMessage, c.want, c.msgPart)
			if v >= 5 && (st.NumPartitions != -1 || st.ReplicationFactor != -1 || len(st.Configs) != 0) {
				t.Errorf("v%d %s: a refused topic described as %d partitions, rf %d, %d configs", v, c.name, st.NumPartitions, st.ReplicationFactor, len(st.Configs))
			}
		}
	}
	if names := tb.meta.Image().TopicNames(); len(names) != 1 {
		t.Fatalf("refused requests created topics: %v", names)
	}

	// A name listed twice is refused for both entries.
	req := kmsg.NewPtrCreateTopicsRequest()
	req.Topics = append(req.Topics, newCreateTopic("dup", 1, 1), newCreateTopic("dup", 1, 1))
	resp, err := req.RequestWith(ctx, tb.client())
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range resp.Topics {
		checkCode(t, "duplicate", st.ErrorCode, st.ErrorMessage, kerr.InvalidRequest, "dup")
	}

	// Explicit assignments, at the oldest version.
	req = kmsg.NewPtrCreateTopicsRequest()
	req.Topics = append(req.Topics, withAssignment(withAssignment(newCreateTopic("assigned", -1, -1), 1, 1), 0, 1))
	resp, err = req.RequestWith(ctx, tb.pinnedClient(19, 2))
	if err != nil {
		t.Fatal(err)
	}
	checkCode(t, "assigned", resp.Topics[0].ErrorCode, resp.Topics[0].ErrorMessage, noError, "")
	if topic, ok := tb.meta.Image().TopicByName("assigned"); !ok || len(topic.Partitions) != 2 {
		t.Fatalf("assigned: %+v", topic)
	}
}

func TestDeleteTopicThenRecreateGivesAnEmptyTopic(t *testing.T) {
	tb := startBroker(t, "", "")
	ctx := adminCtx(t)
	adm := tb.admin()
	tb.createTopic(t, "cycle", 1, nil)
	tb.produceTo(t, "cycle", 0, 10)
	dir := filepath.Join(tb.dir, "cycle-0")
	if _, err := os.Stat(dir); err != nil {
		t.Fatal(err)
	}
	resps, err := adm.DeleteTopics(ctx, "cycle")
	if err != nil || resps["cycle"].Err != nil {
		t.Fatalf("delete: %v, %+v", err, resps["cycle"])
	}
	if _, ok := tb.meta.Image().TopicByName("cycle"); ok {
		t.Fatal("the topic is still in the image")
	}
	if tb.b.partition("cycle", 0) != nil {
		t.Fatal("the partition is still open")
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("the partition directory is still there: %v", err)
	}

	tb.createTopic(t, "cycle", 1, nil)
	ends, err := adm.ListEndOffsets(ctx, "cycle")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := ends.Lookup("cycle", 0); o.Err != nil || o.Offset != 0 {
		t.Fatalf("the re-created topic ends at %d (%v)", o.Offset, o.Err)
	}
	tb.produceTo(t, "cycle", 0, 1)
	cons := tb.client(kgo.ConsumeTopics("cycle"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	fs := cons.PollFetches(ctx)
	if recs := fs.Records(); len(recs) != 1 || recs[0].Offset != 0 || string(recs[0].Value) != "v0" {
		t.Fatalf("consumed %d records from the new topic, errors %v", len(recs), fs.Errors())
	}

	resps, err = adm.DeleteTopics(ctx, "nope")
	if err != nil || !errors.Is(resps["nope"].Err, kerr.UnknownTopicOrPartition) {
		t.Errorf("deleting an unknown topic: %v, %v", err, resps["nope"].Err)
	}

	// Internal topics may be deleted, as in Kafka.
	tb.createTopic(t, "__consumer_offsets", 1, nil)
	resps, err = adm.DeleteTopics(ctx, "__consumer_offsets")
	if err != nil || resps["__consumer_offsets"].Err != nil {
		t.Errorf("deleting __consumer_offsets: %v, %v", err, resps["__consumer_offsets"].Err)
	}
}

func TestDeleteTopicsByIDAndOldVersions(t *testing.T) {
	tb := startBroker(t, "", "")
	ctx := adminCtx(t)
	for _, name := range []string{"by-id", "by-name", "old"} {
		tb.createTopic(t, name, 1, nil)
	}
	byID, _ := tb.meta.Image().TopicByName("by-id")

	req := kmsg.NewPtrDeleteTopicsRequest()
	add := func(name *string, id [16]byte) {
		rt := kmsg.NewDeleteTopicsRequestTopic()
		rt.Topic, rt.TopicID = name, id
		req.Topics = append(req.Topics, rt)
	}
	add(nil, byID.ID)
	add(nil, [16]byte{1, 2, 3})
	add(kmsg.StringPtr("by-name"), [16]byte{})
	add(kmsg.StringPtr("by-name-and-id"), [16]byte{4})
	add(nil, [16]byte{})
	resp, err := req.RequestWith(ctx, tb.pinnedClient(20, 6))
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Topics) != 5 {
		t.Fatalf("%d answers", len(resp.Topics))
	}
	r := resp.Topics
	checkCode(t, "by id", r[0].ErrorCode, r[0].ErrorMessage, noError, "")
	if r[0].Topic == nil || *r[0].Topic != "by-id" || r[0].TopicID != byID.ID {
		t.Errorf("deleting by id answered %v %v", r[0].Topic, r[0].TopicID)
	}
	checkCode(t, "unknown id", r[1].ErrorCode, r[1].ErrorMessage, kerr.UnknownTopicID, "")
	checkCode(t, "by name", r[2].ErrorCode, r[2].ErrorMessage, noError, "")
	checkCode(t, "name and id", r[3].ErrorCode, r[3].ErrorMessage, kerr.InvalidRequest, "")
	checkCode(t, "neither", r[4].ErrorCode, r[4].ErrorMessage, kerr.InvalidRequest, "")

	old := kmsg.NewPtrDeleteTopicsRequest()
	old.TopicNames = []string{"old", "gone"}
	oresp, err := old.RequestWith(ctx, tb.pinnedClient(20, 1))
	if err != nil {
		t.Fatal(err)
	}
	if oresp.Version != 1 || oresp.Topics[0].ErrorCode != 0 || oresp.Topics[1].ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Errorf("v%d: %+v", oresp.Version, oresp.Topics)
	}
	if n := tb.meta.Image().TopicCount(); n != 0 {
		t.Errorf("%d topics left", n)
	}
}

func TestDeleteTopicsDisabled(t *testing.T) {
	tb := startBroker(t, "", "[broker]\n\"delete.topic.enable\" = false\n")
	ctx := adminCtx(t)
	tb.createTopic(t, "kept", 1, nil)
	resps, err := tb.admin().DeleteTopics(ctx, "kept")
	if err != nil || !errors.Is(resps["kept"].Err, kerr.TopicDeletionDisabled) {
		t.Errorf("current version: %v, %v", err, resps["kept"].Err)
	}
	old := kmsg.NewPtrDeleteTopicsRequest()
	old.TopicNames = []string{"kept"}
	oresp, err := old.RequestWith(ctx, tb.pinnedClient(20, 2))
	if err != nil {
		t.Fatal(err)
	}
	if oresp.Topics[0].ErrorCode != kerr.InvalidRequest.Code {
		t.Errorf("v2: %v", kerr.ErrorForCode(oresp.Topics[0].ErrorCode))
	}
	if _, ok := tb.meta.Image().TopicByName("kept"); !ok {
		t.Fatal("the topic was deleted")
	}
}

func TestCreatePartitions(t *testing.T) {
	tb := startBroker(t, "", "")
	ctx := adminCtx(t)
	adm := tb.admin()
	tb.createTopic(t, "grow", 1, nil)

	resps, err := adm.ValidateCreatePartitions(ctx, 2, "grow")
	if err != nil || resps["grow"].Err != nil {
		t.Fatalf("validate: %v, %+v", err, resps["grow"])
	}
	if topic, _ := tb.meta.Image().TopicByName("grow"); len(topic.Partitions) != 1 {
		t.Fatal("validate_only added partitions")
	}
	resps, err = adm.CreatePartitions(ctx, 2, "grow")
	if err != nil || resps["grow"].Err != nil {
		t.Fatalf("create: %v, %+v", err, resps["grow"])
	}
	if topic, _ := tb.meta.Image().TopicByName("grow"); len(topic.Partitions) != 3 {
		t.Fatalf("grow has %d partitions", len(topic.Partitions))
	}
	tb.produceTo(t, "grow", 2, 3)

	resps, err = adm.UpdatePartitions(ctx, 3, "grow")
	if err != nil || !errors.Is(resps["grow"].Err, kerr.InvalidPartitions) {
		t.Errorf("same count: %v, %v", err, resps["grow"].Err)
	}
	resps, err = adm.UpdatePartitions(ctx, 2, "grow")
	if err != nil || !errors.Is(resps["grow"].Err, kerr.InvalidPartitions) {
		t.Errorf("fewer: %v, %v", err, resps["grow"].Err)
	}

	req := kmsg.NewPtrCreatePartitionsRequest()
	add := func(topic string, count int32, assignments ...[]int32) {
		rt := kmsg.NewCreatePartitionsRequestTopic()
		rt.Topic, rt.Count = topic, count
		for _, a := range assignments {
			ra := kmsg.NewCreatePartitionsRequestTopicAssignment()
			ra.Replicas = a
			rt.Assignment = append(rt.Assignment, ra)
		}
		req.Topics = append(req.Topics, rt)
	}
	tb.createTopic(t, "assigned", 1, nil)
	tb.createTopic(t, "bad-broker", 1, nil)
	add("grow", 6, []int32{1})                 // three new partitions, one assignment
	add("nope", 2)                             // unknown topic
	add("assigned", 3, []int32{1}, []int32{1}) // explicit assignments
	add("bad-broker", 2, []int32{7})           // a broker that does not exist
	resp, err := req.RequestWith(ctx, tb.pinnedClient(37, 0))
	if err != nil {
		t.Fatal(err)
	}
	if resp.Version != 0 {
		t.Fatalf("sent v%d", resp.Version)
	}
	r := resp.Topics
	checkCode(t, "assignment count", r[0].ErrorCode, r[0].ErrorMessage, kerr.InvalidReplicaAssignment, "grow")
	checkCode(t, "unknown", r[1].ErrorCode, r[1].ErrorMessage, kerr.UnknownTopicOrPartition, "nope")
	checkCode(t, "assigned", r[2].ErrorCode, r[2].ErrorMessage, noError, "")
	checkCode(t, "unknown broker", r[3].ErrorCode, r[3].ErrorMessage, kerr.InvalidReplicaAssignment, "7")
	if topic, _ := tb.meta.Image().TopicByName("assigned"); len(topic.Partitions) != 3 {
		t.Errorf("assigned has %d partitions", len(topic.Partitions))
	}
}

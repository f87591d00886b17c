package server

import (
	"errors"
	"math"
	"net"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestDeleteRecordsMovesTheLowWatermark(t *testing.T) {
	tb := startBroker(t, "", "")
	ctx := adminCtx(t)
	adm := tb.admin()
	tb.createTopic(t, "trim", 2, nil)
	tb.produceTo(t, "trim", 0, 10)
	tb.produceTo(t, "trim", 1, 4)

	var offsets kadm.Offsets
	offsets.AddOffset("trim", 0, 6, -1)
	offsets.AddOffset("trim", 1, -1, -1) // the high watermark
	resps, err := adm.DeleteRecords(ctx, offsets)
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range map[int32]int64{0: 6, 1: 4} {
		if r, _ := resps.Lookup("trim", p); r.Err != nil || r.LowWatermark != want {
			t.Errorf("trim-%d: low watermark %d (%v), want %d", p, r.LowWatermark, r.Err, want)
		}
	}
	starts, err := adm.ListStartOffsets(ctx, "trim")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := starts.Lookup("trim", 0); o.Offset != 6 {
		t.Errorf("trim-0 starts at %d", o.Offset)
	}
	cons := tb.client(kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"trim": {0: kgo.NewOffset().AtStart()}}))
	fs := cons.PollFetches(ctx)
	if recs := fs.Records(); len(recs) == 0 || recs[0].Offset != 6 || string(recs[0].Value) != "v6" {
		t.Fatalf("consuming from the start gave %d records (errors %v), first %+v", len(recs), fs.Errors(), recs)
	}

	// Versions 0 and 2, errors: above the HW, below -1, an unknown
	// partition, an earlier offset (nothing moves back).
	for _, v := range []int16{0, 2} {
		req := kmsg.NewPtrDeleteRecordsRequest()
		rt := kmsg.NewDeleteRecordsRequestTopic()
		rt.Topic = "trim"
		for _, p := range []struct {
			p   int32
			off int64
		}{{0, 11}, {0, -7}, {5, 0}, {0, 2}} {
			rp := kmsg.NewDeleteRecordsRequestTopicPartition()
			rp.Partition, rp.Offset = p.p, p.off
			rt.Partitions = append(rt.Partitions, rp)
		}
		req.Topics = append(req.Topics, rt)
		resp := tb.send(t, req, v).(*kmsg.DeleteRecordsResponse)
		ps := resp.Topics[0].Partitions
		for i, want := range []*kerr.Error{kerr.OffsetOutOfRange, kerr.OffsetOutOfRange, kerr.UnknownTopicOrPartition, noError} {
			checkCode(t, "delete records", ps[i].ErrorCode, nil, want, "")
		}
		if ps[0].LowWatermark != -1 || ps[3].LowWatermark != 6 {
			t.Errorf("v%d low watermarks %d and %d", v, ps[0].LowWatermark, ps[3].LowWatermark)
		}
	}

	// Compacted topics keep their records, as Kafka's cleanup policy rule.
	tb.createTopic(t, "compacted", 1, map[string]*string{"cleanup.policy": kadm.StringPtr("compact")})
	offsets = nil
	offsets.AddOffset("compacted", 0, 0, -1)
	resps, err = adm.DeleteRecords(ctx, offsets)
	if r, _ := resps.Lookup("compacted", 0); err != nil || !errors.Is(r.Err, kerr.PolicyViolation) {
		t.Errorf("compacted: %v, %v", err, r.Err)
	}
}

func TestOffsetForLeaderEpoch(t *testing.T) {
	tb := startBroker(t, "", "")
	ctx := adminCtx(t)
	adm := tb.admin()
	tb.createTopic(t, "epochs", 2, nil)
	tb.produceTo(t, "epochs", 0, 5)

	var req kadm.OffsetForLeaderEpochRequest
	req.Add("epochs", 0, 0)
	req.Add("epochs", 1, 0) // empty: the current epoch ends at the log end, 0
	resps, err := adm.OffsetForLeaderEpoch(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if r := resps["epochs"][0]; r.Err != nil || r.LeaderEpoch != 0 || r.EndOffset != 5 {
		t.Errorf("epochs-0: %+v", r)
	}
	if r := resps["epochs"][1]; r.Err != nil || r.LeaderEpoch != 0 || r.EndOffset != 0 {
		t.Errorf("epochs-1: %+v", r)
	}

	// Raw, at versions 2 and 4: a newer requested epoch is unknown; a
	// client epoch newer than the leader's is refused; an unknown
	// partition.
	for _, v := range []int16{2, 4} {
		kreq := kmsg.NewPtrOffsetForLeaderEpochRequest()
		unknown := kmsg.NewOffsetForLeaderEpochRequestTopic()
		unknown.Topic = "nope"
		unknown.Partitions = []kmsg.OffsetForLeaderEpochRequestTopicPartition{kmsg.NewOffsetForLeaderEpochRequestTopicPartition()}
		rt := kmsg.NewOffsetForLeaderEpochRequestTopic()
		rt.Topic = "epochs"
		for _, e := range []struct{ current, requested int32 }{{-1, 3}, {2, 0}, {0, 0}} {
			rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
			rp.CurrentLeaderEpoch, rp.LeaderEpoch = e.current, e.requested
			rt.Partitions = append(rt.Partitions, rp)
		}
		kreq.Topics = append(kreq.Topics, rt, unknown)
		resp := tb.send(t, kreq, v).(*kmsg.OffsetForLeaderEpochResponse)
		checkCode(t, "unknown partition", resp.Topics[1].Partitions[0].ErrorCode, nil, kerr.UnknownTopicOrPartition, "")
		ps := resp.Topics[0].Partitions
		if p := ps[0]; p.ErrorCode != 0 || p.LeaderEpoch != -1 || p.EndOffset != -1 {
			t.Errorf("v%d newer epoch: %+v", v, p)
		}
		checkCode(t, "newer client epoch", ps[1].ErrorCode, nil, kerr.UnknownLeaderEpoch, "")
		if p := ps[2]; p.ErrorCode != 0 || p.EndOffset != 5 {
			t.Errorf("v%d current epoch: %+v", v, p)
		}
	}
}

func TestDescribeLogDirs(t *testing.T) {
	tb := startBroker(t, "", "")
	ctx := adminCtx(t)
	tb.createTopic(t, "sized", 2, nil)
	tb.createTopic(t, "other", 1, nil)
	tb.produceTo(t, "sized", 1, 20)

	all, err := tb.admin().DescribeAllLogDirs(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	dirs := all[tb.cfg.NodeID]
	abs, _ := filepath.Abs(tb.dir)
	dir, ok := dirs[abs]
	if len(dirs) != 1 || !ok || dir.Err != nil {
		t.Fatalf("log dirs %+v, want one: %s", dirs, abs)
	}
	if p, ok := dir.Topics.Lookup("sized", 1); !ok || p.Size <= 0 {
		t.Errorf("sized-1: %+v", p)
	}
	if p, ok := dir.Topics.Lookup("sized", 0); !ok || p.Size != 0 {
		t.Errorf("sized-0: %+v", p)
	}
	if _, ok := dir.Topics.Lookup("other", 0); !ok {
		t.Error("other-0 is missing")
	}
	if dir.TotalBytes <= 0 || dir.UsableBytes <= 0 || dir.UsableBytes > dir.TotalBytes {
		t.Errorf("total %d, usable %d", dir.TotalBytes, dir.UsableBytes)
	}

	// Asking for some partitions at v1: only those, no volume sizes.
	req := kmsg.NewPtrDescribeLogDirsRequest()
	rt := kmsg.NewDescribeLogDirsRequestTopic()
	rt.Topic, rt.Partitions = "sized", []int32{1, 7}
	req.Topics = append(req.Topics, rt)
	resp := tb.send(t, req, 1).(*kmsg.DescribeLogDirsResponse)
	if len(resp.Dirs) != 1 || len(resp.Dirs[0].Topics) != 1 || len(resp.Dirs[0].Topics[0].Partitions) != 1 || resp.Dirs[0].Topics[0].Partitions[0].Partition != 1 {
		t.Fatalf("v1: %+v", resp.Dirs)
	}
}

func TestDescribeCluster(t *testing.T) {
	tb := startBroker(t, "", "")
	img := tb.meta.Image()
	for _, v := range []int16{0, 1} {
		resp := tb.send(t, kmsg.NewPtrDescribeClusterRequest(), v).(*kmsg.DescribeClusterResponse)
		if resp.ErrorCode != 0 || resp.ClusterID != img.ClusterID() || resp.ControllerID != tb.cfg.NodeID || resp.EndpointType != 1 {
			t.Errorf("v%d: %+v", v, resp)
		}
		if len(resp.Brokers) != 1 || resp.Brokers[0].NodeID != tb.cfg.NodeID || net.JoinHostPort(resp.Brokers[0].Host, strconv.Itoa(int(resp.Brokers[0].Port))) != tb.addr() {
			t.Errorf("v%d brokers: %+v, listening on %s", v, resp.Brokers, tb.addr())
		}
	}
	req := kmsg.NewPtrDescribeClusterRequest()
	req.EndpointType = 2
	resp := tb.send(t, req, 1).(*kmsg.DescribeClusterResponse)
	checkCode(t, "controllers", resp.ErrorCode, resp.ErrorMessage, kerr.UnsupportedEndpointType, "")

	md, err := tb.admin().BrokerMetadata(adminCtx(t))
	if err != nil || md.Cluster != img.ClusterID() || md.Controller != tb.cfg.NodeID || len(md.Brokers) != 1 {
		t.Errorf("kadm broker metadata: %v, %+v", err, md)
	}
}

func TestInitProducerIDAndDescribeProducers(t *testing.T) {
	tb := startBroker(t, "", "")
	ctx := adminCtx(t)
	tb.createTopic(t, "idem", 1, nil)
	// kgo producers are idempotent unless told otherwise: the produce
	// below starts with InitProducerID.
	tb.produceTo(t, "idem", 0, 3)
	described, err := tb.admin().DescribeProducers(ctx, kadm.TopicsSet{"idem": {0: {}}})
	if err != nil {
		t.Fatal(err)
	}
	part := described["idem"].Partitions[0]
	if part.Err != nil || len(part.ActiveProducers) != 1 {
		t.Fatalf("idem-0: %+v", part)
	}
	var producer kadm.DescribedProducer
	for _, producer = range part.ActiveProducers {
	}
	if producer.ProducerID < 0 || producer.ProducerEpoch != 0 || producer.LastSequence != 2 || producer.CoordinatorEpoch != -1 || producer.CurrentTxnStartOffset != -1 {
		t.Errorf("producer %+v", producer)
	}
	unknown := tb.send(t, &kmsg.DescribeProducersRequest{Topics: []kmsg.DescribeProducersRequestTopic{{Topic: "idem", Partitions: []int32{4}}}}, 0).(*kmsg.DescribeProducersResponse)
	checkCode(t, "unknown partition", unknown.Topics[0].Partitions[0].ErrorCode, unknown.Topics[0].Partitions[0].ErrorMessage, kerr.UnknownTopicOrPartition, "idem-4")

	clients := map[int16]*kgo.Client{}
	initPID := func(v int16, txnID *string, id int64, epoch int16) *kmsg.InitProducerIDResponse {
		t.Helper()
		if clients[v] == nil {
			clients[v] = tb.pinnedClient(22, v)
		}
		req := kmsg.NewPtrInitProducerIDRequest()
		req.TransactionalID, req.ProducerID, req.ProducerEpoch = txnID, id, epoch
		// Straight to the broker: kgo would look for a transaction
		// coordinator for a transactional ID.
		kresp, err := clients[v].Broker(int(tb.cfg.NodeID)).Request(ctx, req)
		if err != nil || kresp.GetVersion() != v {
			t.Fatalf("InitProducerID v%d: %v (%+v)", v, err, kresp)
		}
		return kresp.(*kmsg.InitProducerIDResponse)
	}
	fresh := initPID(5, nil, -1, -1)
	if fresh.ErrorCode != 0 || fresh.ProducerID <= producer.ProducerID || fresh.ProducerEpoch != 0 {
		t.Fatalf("fresh: %+v", fresh)
	}
	bumped := initPID(5, nil, fresh.ProducerID, 7)
	if bumped.ErrorCode != 0 || bumped.ProducerID != fresh.ProducerID || bumped.ProducerEpoch != 8 {
		t.Errorf("bump: %+v", bumped)
	}
	exhausted := initPID(3, nil, fresh.ProducerID, math.MaxInt16-1)
	if exhausted.ErrorCode != 0 || exhausted.ProducerID == fresh.ProducerID || exhausted.ProducerEpoch != 0 {
		t.Errorf("exhausted epoch: %+v", exhausted)
	}
	if r := initPID(5, nil, 1<<40, 0); r.ErrorCode != 0 || r.ProducerID == 1<<40 || r.ProducerEpoch != 0 {
		t.Errorf("an ID never handed out: %+v", r)
	}
	checkCode(t, "id without epoch", initPID(5, nil, fresh.ProducerID, -1).ErrorCode, nil, kerr.InvalidRequest, "")
	checkCode(t, "transactional", initPID(5, kmsg.StringPtr("txn"), -1, -1).ErrorCode, nil, kerr.TransactionalIDAuthorizationFailed, "")
	checkCode(t, "empty transactional id", initPID(5, kmsg.StringPtr(""), -1, -1).ErrorCode, nil, kerr.InvalidRequest, "")

	// Version 0, across blocks: IDs are unique and increasing.
	last := exhausted.ProducerID
	for range producerIDBlock + 5 {
		r := initPID(0, nil, -1, -1)
		if r.ErrorCode != 0 || r.ProducerID <= last {
			t.Fatalf("after %d: %+v", last, r)
		}
		last = r.ProducerID
	}
	if next := tb.meta.Image().NextProducerID(); next < last || next > last+producerIDBlock {
		t.Errorf("the controller's next producer ID is %d after handing out %d", next, last)
	}
}

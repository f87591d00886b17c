package server

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
)

// Helpers of the admin API tests.

// noError is checkCode's want for success.
var noError = &kerr.Error{Message: "NONE"}

func adminCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// pinnedClient returns a client that sends API key at version v at most,
// to exercise old versions.
func (tb *testBroker) pinnedClient(key, v int16) *kgo.Client {
	vs := kversion.Stable()
	vs.SetMaxKeyVersion(key, v)
	return tb.client(kgo.MaxVersions(vs))
}

// send sends req straight to the broker, without the client-side
// sharding kgo applies to some requests, at version v at most.
func (tb *testBroker) send(t *testing.T, req kmsg.Request, v int16) kmsg.Response {
	t.Helper()
	resp, err := tb.pinnedClient(req.Key(), v).Broker(int(tb.cfg.NodeID)).Request(adminCtx(t), req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.GetVersion() != v {
		t.Fatalf("%s sent at v%d, want v%d", kmsg.NameForKey(req.Key()), resp.GetVersion(), v)
	}
	return resp
}

// produceTo writes n records ("v0", "v1", ...) to one partition.
func (tb *testBroker) produceTo(t *testing.T, topic string, partition int32, n int) {
	t.Helper()
	cl := tb.client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	recs := make([]*kgo.Record, n)
	for i := range recs {
		recs[i] = &kgo.Record{Topic: topic, Partition: partition, Value: fmt.Appendf(nil, "v%d", i)}
	}
	if err := cl.ProduceSync(adminCtx(t), recs...).FirstErr(); err != nil {
		t.Fatalf("producing to %s-%d: %v", topic, partition, err)
	}
}

// createTopic creates a topic through kadm and fails the test otherwise.
func (tb *testBroker) createTopic(t *testing.T, name string, partitions int32, configs map[string]*string) {
	t.Helper()
	resps, err := tb.admin().CreateTopics(adminCtx(t), partitions, 1, configs, name)
	if err == nil {
		err = resps[name].Err
	}
	if err != nil {
		t.Fatalf("creating %s: %v (%s)", name, err, resps[name].ErrMessage)
	}
}

// checkCode fails unless code is want and, when msgPart is not empty, the
// message contains it.
func checkCode(t *testing.T, what string, code int16, msg *string, want *kerr.Error, msgPart string) {
	t.Helper()
	var m string
	if msg != nil {
		m = *msg
	}
	if code != want.Code {
		t.Errorf("%s: error %v (%q), want %v", what, kerr.ErrorForCode(code), m, want)
		return
	}
	if msgPart != "" && !strings.Contains(m, msgPart) {
		t.Errorf("%s: message %q does not mention %q", what, m, msgPart)
	}
}

package log

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/weirmq/weir/core/record"
	"github.com/weirmq/weir/sdk"
)

// filterFunc is a compaction filter made of a function.
type filterFunc struct {
	name string
	fn   func(context.Context, sdk.FilterInput, []sdk.FilterDecision) error
}

func (f filterFunc) Name() string { return f.name }
func (f filterFunc) Filter(ctx context.Context, in sdk.FilterInput, out []sdk.FilterDecision) error {
	return f.fn(ctx, in, out)
}

// ttlFilter drops records whose "ttl" header (an expiry time, Unix ms) has
// passed — the example of expiring records by a TTL header.
var ttlFilter = filterFunc{"ttl", func(_ context.Context, in sdk.FilterInput, out []sdk.FilterDecision) error {
	for i, r := range in.Records {
		for _, h := range r.Headers {
			if exp, err := strconv.ParseInt(string(h.Value), 10, 64); h.Key == "ttl" && err == nil && exp <= in.NowMs {
				out[i].Action = sdk.Drop
			}
		}
	}
	return nil
}}

func filterLog(t *testing.T, filter string, clock *manualClock) *Log {
	t.Helper()
	cfg := compactConfig()
	cfg.CompactionFilter = filter
	return openTestLog(t, t.TempDir(), cfg, clock, Options{})
}

func TestCompactionFilterDropsRecordsByTTLHeader(t *testing.T) {
	clock := newManualClock()
	l := filterLog(t, "ttl", clock)
	defer l.Close()
	now := clock.Now().UnixMilli()
	ttl := func(ms int64) []record.RecordHeader {
		return []record.RecordHeader{{Key: "ttl", Value: []byte(strconv.FormatInt(ms, 10))}}
	}
	appendKV(t, l, now, batchOpts{},
		kv{key: "a", value: "old", headers: ttl(now + 1000)}, // superseded below anyway
		kv{key: "b", value: "expires", headers: ttl(now + 1000)},
		kv{key: "c", value: "lives", headers: ttl(now + 60_000)},
		kv{key: "d", value: "no ttl"})
	appendKV(t, l, now, batchOpts{}, kv{key: "a", value: "new"})
	if err := l.Roll(); err != nil {
		t.Fatal(err)
	}
	reg := sdk.NewRegistry()
	if err := reg.RegisterCompactionFilter(ttlFilter); err != nil {
		t.Fatal(err)
	}
	res := cleanNow(t, l, reg)
	want := fmt.Sprintf("[1:b=expires [ttl=%d] 2:c=lives [ttl=%d] 3:d=no ttl 4:a=new]", now+1000, now+60_000)
	if got := fmt.Sprint(recStrings(readRecords(t, l, nil))); got != want || res.FilterDropped != 0 {
		t.Fatalf("before expiry %s (%d dropped), want %s", got, res.FilterDropped, want)
	}
	clock.Advance(2 * time.Second)
	res = cleanNow(t, l, reg)
	want = fmt.Sprintf("[2:c=lives [ttl=%d] 3:d=no ttl 4:a=new]", now+60_000)
	if got := fmt.Sprint(recStrings(readRecords(t, l, nil))); got != want || res.FilterDropped != 1 {
		t.Fatalf("after expiry %s (%d dropped), want %s", got, res.FilterDropped, want)
	}
	checkReadsAcrossGaps(t, l)
}

func TestCompactionFilterRewritesRecords(t *testing.T) {
	clock := newManualClock()
	l := filterLog(t, "upper", clock)
	defer l.Close()
	reg := sdk.NewRegistry()
	reg.RegisterCompactionFilter(filterFunc{"upper", func(_ context.Context, in sdk.FilterInput, out []sdk.FilterDecision) error {
		for i, r := range in.Records {
			switch string(r.Key) {
			case "kill":
				out[i] = sdk.FilterDecision{Action: sdk.Rewrite} // to a tombstone
			case "keep":
			default:
				out[i] = sdk.FilterDecision{Action: sdk.Rewrite, Value: bytes.ToUpper(r.Value),
					Headers: []sdk.Header{{Key: "by", Value: []byte(in.Topic + "/" + strconv.Itoa(int(in.Partition)))}}}
			}
		}
		return nil
	}})
	ts := clock.Now().UnixMilli() - 5
	appendKV(t, l, ts, batchOpts{producerID: 4, baseSequence: 0},
		kv{key: "x", value: "hello", headers: []record.RecordHeader{{Key: "h", Value: []byte("1")}}},
		kv{key: "keep", value: "as is"}, kv{key: "kill", value: "soon a tombstone"})
	if err := l.Roll(); err != nil {
		t.Fatal(err)
	}
	t0 := clock.Now().UnixMilli()
	res := cleanNow(t, l, reg)
	want := "[0:x=HELLO [by=t/0] 1:keep=as is 2:kill=<tombstone>]"
	if got := fmt.Sprint(recStrings(readRecords(t, l, nil))); got != want || res.FilterRewritten != 2 {
		t.Fatalf("records %s (%d rewritten), want %s", got, res.FilterRewritten, want)
	}
	batches, hs := readBatches(t, l)
	h := hs[0]
	if h.ProducerID != 4 || h.BaseSequence != 0 || h.LastOffsetDelta != 2 || !h.Attributes.HasDeleteHorizon() ||
		h.BaseTimestamp != t0+l.Config().DeleteRetentionMs {
		t.Fatalf("rewritten batch header %+v", h)
	}
	it, _ := record.NewIterator(batches[0], nil, 1<<20)
	for r, ok := it.Next(); ok; r, ok = it.Next() {
		if r.Timestamp != ts+int64(r.OffsetDelta) {
			t.Fatalf("record %d timestamp %d, want %d", r.Offset, r.Timestamp, ts+int64(r.OffsetDelta))
		}
	}
}

func TestFailingCompactionFilterKeepsEverything(t *testing.T) {
	for _, tc := range []struct {
		name     string
		fn       func(context.Context, sdk.FilterInput, []sdk.FilterDecision) error
		declined bool
	}{
		{"error", func(_ context.Context, _ sdk.FilterInput, out []sdk.FilterDecision) error {
			for i := range out {
				out[i].Action = sdk.Drop // and then fails: the drops must not count
			}
			return errors.New("plugin exploded")
		}, false},
		{"decline", func(context.Context, sdk.FilterInput, []sdk.FilterDecision) error {
			return fmt.Errorf("not today: %w", sdk.ErrDecline)
		}, true},
		{"panic", func(context.Context, sdk.FilterInput, []sdk.FilterDecision) error {
			panic("filter bug")
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := newManualClock()
			l := filterLog(t, tc.name, clock)
			defer l.Close()
			all := writeVersions(t, l, clock, 30, 7)
			if err := l.Roll(); err != nil {
				t.Fatal(err)
			}
			reg := sdk.NewRegistry()
			reg.RegisterCompactionFilter(filterFunc{tc.name, tc.fn})
			res := cleanNow(t, l, reg)
			// Key dedupe still applies; the filter's verdicts do not.
			want := expectCompacted(all, l.LogEndOffset())
			if got := readRecords(t, l, nil); !sameRecs(got, want) {
				t.Fatalf("records %v\nwant %v", recStrings(got), recStrings(want))
			}
			if tc.declined && (res.FilterDeclined == 0 || res.FilterErrors != 0) ||
				!tc.declined && (res.FilterErrors == 0 || res.FilterDeclined != 0) || res.FilterDropped != 0 {
				t.Fatalf("result %+v", res)
			}
		})
	}
}

func TestUnknownCompactionFilterCompactsByKeyOnly(t *testing.T) {
	clock := newManualClock()
	l := filterLog(t, "no-such-filter", clock)
	defer l.Close()
	all := writeVersions(t, l, clock, 20, 4)
	if err := l.Roll(); err != nil {
		t.Fatal(err)
	}
	for _, filters := range []CompactionFilters{nil, sdk.NewRegistry()} {
		cleanNow(t, l, filters)
		if got, want := readRecords(t, l, nil), expectCompacted(all, l.LogEndOffset()); !sameRecs(got, want) {
			t.Fatalf("records %v", recStrings(got))
		}
	}
}

func TestCompactionFilterSeesChunksOfSurvivors(t *testing.T) {
	clock := newManualClock()
	l := filterLog(t, "count", clock)
	defer l.Close()
	cfg := l.Config()
	cfg.SegmentBytes = 1 << 20
	l.SetConfig(cfg)
	var calls, seen, largest int
	var lastOffset int64 = -1
	reg := sdk.NewRegistry()
	reg.RegisterCompactionFilter(filterFunc{"count", func(_ context.Context, in sdk.FilterInput, out []sdk.FilterDecision) error {
		calls++
		seen += len(in.Records)
		largest = max(largest, len(in.Records))
		if in.Topic != "t" || in.Partition != 0 || in.NowMs != clock.Now().UnixMilli() || len(out) != len(in.Records) {
			return fmt.Errorf("bad input: %s/%d at %d, %d decisions", in.Topic, in.Partition, in.NowMs, len(out))
		}
		for i, r := range in.Records {
			if r.Offset <= lastOffset || out[i].Action != sdk.Keep {
				return fmt.Errorf("record %d out of order or decision not reset", r.Offset)
			}
			lastOffset = r.Offset
			if strings.HasSuffix(string(r.Key), "7") {
				out[i].Action = sdk.Drop
			}
		}
		return nil
	}})
	for i := 0; i < 100; i++ {
		var recs []kv
		for j := 0; j < 30; j++ {
			recs = append(recs, kv{key: fmt.Sprintf("k%d", i*30+j), value: "v"})
		}
		appendKV(t, l, clock.Now().UnixMilli(), batchOpts{}, recs...)
	}
	if err := l.Roll(); err != nil {
		t.Fatal(err)
	}
	res := cleanNow(t, l, reg)
	if seen != 3000 || calls < 3 || largest > filterChunk+30 || res.FilterErrors != 0 || res.FilterDropped != 300 {
		t.Fatalf("%d calls saw %d records, at most %d at once; result %+v", calls, seen, largest, res)
	}
	if n := len(readRecords(t, l, nil)); n != 2700 {
		t.Fatalf("%d records left, want 2700", n)
	}
}

func TestCompactionFilterEmptyingAProducersLastBatchKeepsItEmpty(t *testing.T) {
	clock := newManualClock()
	l := filterLog(t, "all", clock)
	defer l.Close()
	reg := sdk.NewRegistry()
	reg.RegisterCompactionFilter(filterFunc{"all", func(_ context.Context, _ sdk.FilterInput, out []sdk.FilterDecision) error {
		for i := range out {
			out[i].Action = sdk.Drop
		}
		return nil
	}})
	appendKV(t, l, clock.Now().UnixMilli(), batchOpts{producerID: 3, baseSequence: 10}, kv{key: "a", value: "1"}, kv{key: "b", value: "1"})
	appendKV(t, l, clock.Now().UnixMilli(), batchOpts{}, kv{key: "c", value: "1"})
	if err := l.Roll(); err != nil {
		t.Fatal(err)
	}
	cleanNow(t, l, reg)
	_, hs := readBatches(t, l)
	if len(hs) != 1 || hs[0].ProducerID != 3 || hs[0].NumRecords != 0 || hs[0].BaseSequence != 10 || hs[0].LastOffsetDelta != 1 {
		t.Fatalf("batches after dropping everything: %+v", hs)
	}
	checkReadsAcrossGaps(t, l)
}

func filterRegistry(fs ...sdk.CompactionFilter) *sdk.Registry {
	reg := sdk.NewRegistry()
	for _, f := range fs {
		if err := reg.RegisterCompactionFilter(f); err != nil {
			panic(err)
		}
	}
	return reg
}

// filterBlocking signals entered on its first call, then waits for release.
func filterBlocking(entered, release chan struct{}) func(context.Context, sdk.FilterInput, []sdk.FilterDecision) error {
	first := true
	return func(context.Context, sdk.FilterInput, []sdk.FilterDecision) error {
		if first {
			first = false
			close(entered)
			<-release
		}
		return nil
	}
}

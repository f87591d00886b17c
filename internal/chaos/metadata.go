package chaos

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// metadataRequestTimeout bounds one metadata request to one broker: a
// paused or cut-off broker never answers.
const metadataRequestTimeout = time.Second

// PartitionState is one partition as one broker's Metadata answer shows it.
type PartitionState struct {
	Leader      int32 // -1 when none
	LeaderEpoch int32
	Replicas    []int32
	ISR         []int32
	ErrorCode   int16
}

func (p PartitionState) String() string {
	return fmt.Sprintf("leader=%d epoch=%d replicas=%v isr=%v err=%d", p.Leader, p.LeaderEpoch, p.Replicas, p.ISR, p.ErrorCode)
}

// TopicState is a topic's partitions by partition number.
type TopicState map[int32]PartitionState

// Probe sends Metadata and ListOffsets requests to chosen brokers of a
// cluster, each through its own client that talks to that broker only,
// so that what one broker believes can be told apart from another's.
//
// A Probe is safe for concurrent use. Close it when done.
type Probe struct {
	seeds []string
	mu    struct {
		sync.Mutex
		perNode map[string]*kgo.Client
		all     *kgo.Client
		closed  bool
	}
}

// NewProbe returns a Probe of the brokers at seeds (Kafka addresses).
func NewProbe(seeds []string) *Probe {
	p := &Probe{seeds: append([]string(nil), seeds...)}
	p.mu.perNode = map[string]*kgo.Client{}
	return p
}

func probeOpts(seeds ...string) []kgo.Opt {
	return []kgo.Opt{
		kgo.SeedBrokers(seeds...), kgo.DialTimeout(time.Second),
		kgo.RequestTimeoutOverhead(2 * time.Second), kgo.RetryTimeout(5 * time.Second),
		kgo.MetadataMinAge(50 * time.Millisecond),
	}
}

// nodeClient returns the client that talks to addr only.
func (p *Probe) nodeClient(addr string) (*kgo.Client, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mu.closed {
		return nil, errClosed
	}
	if cl := p.mu.perNode[addr]; cl != nil {
		return cl, nil
	}
	cl, err := kgo.NewClient(probeOpts(addr)...)
	if err != nil {
		return nil, err
	}
	p.mu.perNode[addr] = cl
	return cl, nil
}

// Admin returns a kadm client over every broker (requests go wherever
// Kafka's routing sends them: to leaders, to the controller). It is shared;
// do not close it.
func (p *Probe) Admin() (*kadm.Client, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mu.closed {
		return nil, errClosed
	}
	if p.mu.all == nil {
		cl, err := kgo.NewClient(probeOpts(p.seeds...)...)
		if err != nil {
			return nil, err
		}
		p.mu.all = cl
	}
	return kadm.NewClient(p.mu.all), nil
}

// Metadata asks the broker at addr, and only it, for topic's partitions.
// It returns an error if the broker does not answer within a second, or
// answers with an error for the topic.
func (p *Probe) Metadata(ctx context.Context, addr, topic string) (TopicState, error) {
	cl, err := p.nodeClient(addr)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, metadataRequestTimeout)
	defer cancel()
	req := kmsg.NewPtrMetadataRequest()
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	resp, err := cl.SeedBrokers()[0].Request(ctx, req)
	if err != nil {
		return nil, err
	}
	mr := resp.(*kmsg.MetadataResponse)
	if len(mr.Topics) != 1 {
		return nil, fmt.Errorf("metadata from %s: %d topics for %q", addr, len(mr.Topics), topic)
	}
	t := mr.Topics[0]
	if err := kerr.ErrorForCode(t.ErrorCode); err != nil {
		return nil, fmt.Errorf("metadata from %s for %q: %w", addr, topic, err)
	}
	out := TopicState{}
	for _, ps := range t.Partitions {
		out[ps.Partition] = PartitionState{
			Leader: ps.Leader, LeaderEpoch: ps.LeaderEpoch, ErrorCode: ps.ErrorCode,
			Replicas: sortedIDs(ps.Replicas), ISR: sortedIDs(ps.ISR),
		}
	}
	return out, nil
}

func sortedIDs(ids []int32) []int32 {
	out := slices.Clone(ids)
	slices.Sort(out)
	return out
}

// HighWatermarks returns each partition's high watermark (ListOffsets
// latest, read_uncommitted, answered by the leader). It returns an error
// if any partition's answer is an error.
func (p *Probe) HighWatermarks(ctx context.Context, topic string) (map[int32]int64, error) {
	adm, err := p.Admin()
	if err != nil {
		return nil, err
	}
	offs, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return nil, err
	}
	out := map[int32]int64{}
	var errs []string
	offs.Each(func(o kadm.ListedOffset) {
		if o.Err != nil {
			errs = append(errs, fmt.Sprintf("%d: %v", o.Partition, o.Err))
			return
		}
		out[o.Partition] = o.Offset
	})
	if len(errs) > 0 {
		sort.Strings(errs)
		return out, fmt.Errorf("listing end offsets of %s: %s", topic, strings.Join(errs, "; "))
	}
	return out, nil
}

// Close closes every client of the probe. It returns nil.
func (p *Probe) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.mu.closed {
		return nil
	}
	p.mu.closed = true
	for _, cl := range p.mu.perNode {
		cl.Close()
	}
	if p.mu.all != nil {
		p.mu.all.Close()
	}
	return nil
}

// CreateTopic creates topic with the given partitions and replication
// factor and topic configs through any broker. A topic that already
// exists is an error.
func (p *Probe) CreateTopic(ctx context.Context, topic string, partitions int32, rf int16, configs map[string]string) error {
	adm, err := p.Admin()
	if err != nil {
		return err
	}
	cfg := map[string]*string{}
	for k, v := range configs {
		cfg[k] = kmsg.StringPtr(v)
	}
	resp, err := adm.CreateTopic(ctx, partitions, rf, cfg, topic)
	if err != nil {
		return fmt.Errorf("creating topic %s (%d partitions, RF %d): %w", topic, partitions, rf, err)
	}
	if resp.Err != nil {
		return fmt.Errorf("creating topic %s (%d partitions, RF %d): %w: %s", topic, partitions, rf, resp.Err, resp.ErrMessage)
	}
	return nil
}

// Healthy reports whether state shows every one of want partitions with
// a leader among live and an ISR of all rf replicas; when not, the
// string says what is missing.
func Healthy(state TopicState, want int32, rf int, live map[int32]bool) (bool, string) {
	for p := range want {
		ps, ok := state[p]
		switch {
		case !ok:
			return false, fmt.Sprintf("partition %d missing", p)
		case ps.ErrorCode != 0:
			return false, fmt.Sprintf("partition %d: %v", p, kerr.ErrorForCode(ps.ErrorCode))
		case ps.Leader < 0 || !live[ps.Leader]:
			return false, fmt.Sprintf("partition %d: leader %d not live", p, ps.Leader)
		case len(ps.ISR) != rf:
			return false, fmt.Sprintf("partition %d: isr %v, want %d replicas", p, ps.ISR, rf)
		}
	}
	return true, ""
}

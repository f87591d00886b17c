package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/weirmq/weir/core/config"
	"github.com/weirmq/weir/core/controller"
	"github.com/weirmq/weir/core/group"
	"github.com/weirmq/weir/core/log"
	"github.com/weirmq/weir/core/partition"
	"github.com/weirmq/weir/core/record"
	"github.com/weirmq/weir/sdk"
)

// metadataStore is what the broker needs of the controller: today the
// single-node controller.Local, later the Raft-backed one.
type metadataStore interface {
	Image() *controller.Image
	Submit(ctx context.Context, cmd controller.Command) (controller.Result, error)
	Watch(fn func(old, new *controller.Image))
}

// Options are the broker's collaborators, built and owned by the caller
// (cmd/weir): the broker closes none of them.
type Options struct {
	Config   *config.Config // the node's static configuration
	Logs     *log.Manager
	Metadata metadataStore
	Codecs   record.CodecSource
	Logger   *slog.Logger
	Metrics  *Metrics // nil: no metrics

	// Assignors finds the server-side assignors of KIP-848 consumer
	// groups by name (cmd/weir passes its sdk.Registry, built-ins
	// registered), and those classic groups name in weir.assignor. nil:
	// ConsumerGroupHeartbeat and ConsumerGroupDescribe are not offered,
	// and no group config may name an assignor. (weir: KIP-848)
	Assignors assignorRegistry

	// Partitioners finds a topic's weir.partitioner by name, for topics
	// with weir.partitioner.enforce=true (partitioner_enforce.go). nil:
	// such topics refuse keyed records, as their placement cannot be
	// checked.
	Partitioners partitionerRegistry
	// CompactionFilters finds weir.compaction.filter names, to refuse
	// topic configs naming a filter this node lacks. nil: not checked.
	CompactionFilters compactionFilterRegistry

	// groupConfigForTesting adjusts the group coordinator's configuration
	// for every request (tests only: the KIP-848 timings are not in the
	// configuration table yet).
	groupConfigForTesting func(*group.Config)

	// Dial makes the broker's connections to other brokers (the replica
	// fetchers'); nil uses a net.Dialer. The chaos tests put proxies
	// between brokers this way.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// HighWatermarkCheckpointInterval is how often
	// replication-offset-checkpoint is written; 0 means every 5 s (Kafka's
	// replica.high.watermark.checkpoint.interval.ms default). It is also
	// written at Close.
	HighWatermarkCheckpointInterval time.Duration
}

// assignorRegistry is what the broker needs of the sdk.Registry.
type assignorRegistry interface {
	Assignor(name string) (sdk.Assignor, bool)
}

type topicPartition struct {
	topic string
	index int32
}

// Broker serves the Kafka protocol over one node's partitions. It is safe
// for concurrent use. Create it with Start; Close stops it.
type Broker struct {
	opts   Options
	nodeID int32
	logger *slog.Logger
	srv    *Server
	member membership // registration and heartbeats (membership.go)

	// reconcileMu serialises metadata reactions (Watch callbacks and the
	// first reconcile at start) and guards closed.
	reconcileMu sync.Mutex
	closed      bool // reconcile does nothing once the broker closes
	mu          struct {
		sync.RWMutex
		partitions map[topicPartition]*partition.Partition
		topicIDs   map[string]controller.TopicID // topics whose partitions are open, by name
		topicCfgs  map[string]config.Topic       // resolved configs of open topics
		broker     config.Broker                 // resolved from effective
		effective  *config.Config                // the file's config with the dynamic broker configs on top
	}
	pidMu struct {
		sync.Mutex
		next, end int64 // the unused part of the allocated producer-ID block
	}

	// Group coordinator (groups.go): created in Start, fed the
	// __consumer_offsets partitions this node leads by ensureTopic.
	groups     *group.Coordinator
	groupLoads goroutines // Load goroutines, waited for on Close

	// Replication (replication.go, replica_fetcher.go): started by
	// startReplication, stopped by stopReplication.
	dial         dialFunc
	fetchers     *replicaFetchers
	isr          *isrSender
	hwCheckpoint map[log.TopicPartition]int64 // read at start; then guarded by reconcileMu
	cpMu         sync.Mutex                   // serialises HW checkpoint writes
	replCtx      context.Context
	replStop     context.CancelFunc
	replWG       sync.WaitGroup
}

// Start opens this node's partitions as the metadata describes them,
// registers the node with the controller at the listener's real address,
// and starts serving Kafka on cfg.Listeners.Kafka.
func Start(ctx context.Context, opts Options) (*Broker, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	cfg := opts.Config
	brokerCfg, err := cfg.ResolveBroker()
	if err != nil {
		return nil, err
	}
	b := &Broker{opts: opts, nodeID: cfg.NodeID, logger: opts.Logger}
	if err := b.checkAssignorName(brokerCfg.WeirGroupAssignor); err != nil {
		return nil, fmt.Errorf("[broker] %q = %q: %w", config.ConfigWeirGroupAssignor, brokerCfg.WeirGroupAssignor, err)
	}
	b.mu.partitions = map[topicPartition]*partition.Partition{}
	b.mu.topicIDs = map[string]controller.TopicID{}
	b.mu.topicCfgs = map[string]config.Topic{}
	b.mu.broker = brokerCfg
	b.mu.effective = cfg

	var m serverMetrics = noMetrics{}
	if opts.Metrics != nil {
		m = opts.Metrics
		opts.Metrics.partitionsFn = b.partitionGauges
	}
	b.openGroups() // group coordinator: before requests arrive and reconcile loads partitions into it
	b.srv, err = listen(Config{
		Addr:            cfg.Listeners.Kafka,
		MaxRequestBytes: brokerCfg.SocketRequestMaxBytes,
		MaxConnections:  int(brokerCfg.MaxConnections),
		IdleTimeout:     msDuration(brokerCfg.ConnectionsMaxIdleMs),
		Logger:          opts.Logger,
	}, b.apis(), m)
	if err != nil {
		b.closeGroups() // group coordinator
		return nil, err
	}
	host, port, err := advertised(cfg.Listeners.Kafka, b.srv.Addr())
	if err != nil {
		b.srv.Close()
		b.closeGroups() // group coordinator
		return nil, err
	}
	b.member.host, b.member.port, b.member.rack = host, port, brokerCfg.BrokerRack
	if err := b.register(ctx); err != nil { // membership.go
		b.srv.Close()
		b.closeGroups() // group coordinator
		return nil, fmt.Errorf("registering broker %d: %w", b.nodeID, err)
	}
	b.startReplication()
	// Watch calls reconcile with the current image at once, then after
	// every applied command.
	opts.Metadata.Watch(b.reconcile)
	b.startHeartbeats() // membership.go
	return b, nil
}

// Addr returns the Kafka listener's address.
func (b *Broker) Addr() net.Addr { return b.srv.Addr() }

// Close stops the listener after in-flight requests finish, stops
// following metadata, stops replication, writes the HW checkpoint and
// closes the partitions (not their logs: the log manager owns those).
func (b *Broker) Close() error {
	b.stopHeartbeats() // membership.go
	err := b.srv.Close()
	b.closeGroups() // group coordinator: after the handlers, before the partitions under it
	b.reconcileMu.Lock()
	b.closed = true // the metadata store keeps calling reconcile; it does nothing now
	b.reconcileMu.Unlock()
	b.stopReplication()
	if cerr := b.writeHWCheckpoint(); cerr != nil {
		b.logger.Warn("writing the HW checkpoint at close", "err", cerr)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, p := range b.mu.partitions {
		p.Close()
	}
	return err
}

// advertised is the host and port clients are told: the configured host
// (or the bound one for an unspecified host) and the bound port.
func advertised(configured string, bound net.Addr) (string, int32, error) {
	host, _, err := net.SplitHostPort(configured)
	if err != nil {
		return "", 0, err
	}
	bhost, bport, err := net.SplitHostPort(bound.String())
	if err != nil {
		return "", 0, err
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = bhost
	}
	port, err := strconv.Atoi(bport)
	return host, int32(port), err
}

// reconcile opens, reconfigures and deletes partitions to match the image:
// the partitions of every topic this node is a replica of are open, with
// the topic's configuration; partitions of deleted topics are closed and
// their logs deleted.
func (b *Broker) reconcile(_, img *controller.Image) {
	b.reconcileMu.Lock()
	defer b.reconcileMu.Unlock()
	if b.closed {
		return
	}

	b.mu.RLock()
	open := make(map[string]controller.TopicID, len(b.mu.topicIDs))
	for name, id := range b.mu.topicIDs {
		open[name] = id
	}
	b.mu.RUnlock()

	// Dynamic broker configs (AlterConfigs on the BROKER resource) apply on
	// top of the file's, to the broker and to every topic's defaults.
	effective, err := withDynamicBrokerConfigs(b.opts.Config, img.BrokerConfigs())
	if err == nil {
		var bc config.Broker
		if bc, err = effective.ResolveBroker(); err == nil {
			b.mu.Lock()
			b.mu.effective, b.mu.broker = effective, bc
			b.mu.Unlock()
		}
	}
	if err != nil {
		b.logger.Error("dynamic broker configs do not apply; keeping the previous ones", "err", err)
	}

	// Deletions first: a topic deleted and created again under its name
	// must lose its old data before the new one opens.
	for name, id := range open {
		if t, ok := img.TopicByName(name); !ok || t.ID != id {
			b.removeTopic(name)
		}
	}
	for _, t := range img.Topics() {
		if err := b.ensureTopic(img, t); err != nil {
			b.logger.Error("opening topic", "topic", t.Name, "err", err)
		}
	}
}

func (b *Broker) removeTopic(name string) {
	b.mu.Lock()
	var gone []*partition.Partition
	for tp, p := range b.mu.partitions {
		if tp.topic == name {
			gone = append(gone, p)
			delete(b.mu.partitions, tp)
		}
	}
	delete(b.mu.topicIDs, name)
	delete(b.mu.topicCfgs, name)
	b.mu.Unlock()
	for _, p := range gone {
		b.fetchers.unfollow(topicPartition{name, p.Index()})
		delete(b.hwCheckpoint, log.TopicPartition{Topic: name, Partition: p.Index()})
		if name == group.OffsetsTopic {
			b.groups.Unload(p.Index()) // group coordinator
		}
		p.Close()
		if err := b.opts.Logs.DeleteLog(log.TopicPartition{Topic: name, Partition: p.Index()}); err != nil {
			b.logger.Warn("deleting log", "topic", name, "partition", p.Index(), "err", err)
		}
	}
	b.logger.Info("topic deleted", "topic", name)
}

// ensureTopic opens the topic's partitions hosted here, applies its
// configuration to those already open, makes each leader or follower as
// the image says, and closes those this broker no longer replicates.
func (b *Broker) ensureTopic(img *controller.Image, t controller.Topic) error {
	b.mu.RLock()
	effective, bc := b.mu.effective, b.mu.broker
	b.mu.RUnlock()
	tc, err := effective.ResolveTopic(t.Configs)
	if err != nil {
		return err
	}
	lc, pc := log.ConfigFromTopic(tc), partitionConfig(tc, bc)
	b.mu.Lock()
	b.mu.topicIDs[t.Name] = t.ID
	b.mu.topicCfgs[t.Name] = tc
	b.mu.Unlock()
	for i, pa := range t.Partitions {
		tp := topicPartition{t.Name, int32(i)}
		b.mu.RLock()
		p := b.mu.partitions[tp]
		b.mu.RUnlock()
		if !containsID(pa.Replicas, b.nodeID) {
			if p != nil {
				b.stopReplica(tp, p) // reassigned away
			}
			continue
		}
		if p != nil {
			p.Log().SetConfig(lc)
			p.SetConfig(pc)
			b.applyLeadership(img, t.ID, tp, p, pa)
			continue
		}
		ltp := log.TopicPartition{Topic: t.Name, Partition: int32(i)}
		if err := b.claimDir(ltp, t.ID); err != nil {
			return err
		}
		l, err := b.opts.Logs.OpenLog(ltp, lc)
		if err != nil {
			return err
		}
		if err := writePartitionMetadata(l.Dir(), t.ID); err != nil {
			return err
		}
		p, err = partition.Open(t.Name, int32(i), l, partition.Options{Config: pc, LocalID: b.nodeID, Logger: b.logger,
			HighWatermark: b.checkpointHighWatermark(ltp), OnISRChange: b.isr.enqueue, OnISRChanged: b.isrChanged})
		if err != nil {
			return err
		}
		b.mu.Lock()
		b.mu.partitions[tp] = p
		b.mu.Unlock()
		b.applyLeadership(img, t.ID, tp, p, pa)
	}
	return nil
}

// claimDir makes sure a partition directory on disk belongs to the topic
// ID: one left by a deleted topic of the same name (a crash between the
// metadata change and the directory's removal) is removed.
func (b *Broker) claimDir(tp log.TopicPartition, id controller.TopicID) error {
	if b.opts.Logs.Log(tp) != nil {
		return nil
	}
	dir := filepath.Join(b.opts.Config.DataDir, tp.String())
	data, err := os.ReadFile(filepath.Join(dir, partitionMetadataFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if strings.Contains(string(data), "topic_id: "+id.String()) {
		return nil
	}
	b.logger.Warn("removing the data of an older topic with the same name", "dir", dir)
	return b.opts.Logs.DeleteLog(tp)
}

const partitionMetadataFile = "partition.metadata"

// writePartitionMetadata records the topic ID in the partition directory,
// in Kafka's format.
func writePartitionMetadata(dir string, id controller.TopicID) error {
	name := filepath.Join(dir, partitionMetadataFile)
	want := "version: 0\ntopic_id: " + id.String() + "\n"
	if data, err := os.ReadFile(name); err == nil && string(data) == want {
		return nil
	}
	tmp := name + ".tmp"
	if err := os.WriteFile(tmp, []byte(want), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, name)
}

func partitionConfig(tc config.Topic, bc config.Broker) partition.Config {
	return partition.Config{
		LogAppendTime:        tc.MessageTimestampType == config.TimestampLogAppendTime,
		TimestampBeforeMaxMs: tc.MessageTimestampBeforeMaxMs,
		TimestampAfterMaxMs:  tc.MessageTimestampAfterMaxMs,
		MinInsyncReplicas:    int(tc.MinInsyncReplicas),
		ReplicaLagTimeMaxMs:  bc.ReplicaLagTimeMaxMs,
	}
}

func containsID(ids []int32, id int32) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

// partition returns the open partition, or nil.
func (b *Broker) partition(topic string, index int32) *partition.Partition {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.mu.partitions[topicPartition{topic, index}]
}

// topicConfig returns the resolved configuration of an open topic.
func (b *Broker) topicConfig(topic string) (config.Topic, bool) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	tc, ok := b.mu.topicCfgs[topic]
	return tc, ok
}

func (b *Broker) brokerConfig() config.Broker {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.mu.broker
}

// apis is the dispatch table: every API the broker implements, with the
// versions it implements. ApiVersions advertises exactly this.
func (b *Broker) apis() map[int16]api {
	t := map[int16]api{
		0: {3, 12, b.handleProduce},
		2: {1, 10, b.handleListOffsets},
		3: {0, 13, b.handleMetadata},

		// Group coordinator (classic protocol; KIP-848 below).
		8:  {2, 10, b.handleOffsetCommit},
		9:  {1, 10, b.handleOffsetFetch},
		10: {0, 6, b.handleFindCoordinator},
		11: {2, 9, b.handleJoinGroup},
		12: {0, 4, b.handleHeartbeat},
		13: {0, 5, b.handleLeaveGroup},
		14: {0, 5, b.handleSyncGroup},
		15: {0, 6, b.handleDescribeGroups},
		16: {0, 5, b.handleListGroups},
		42: {0, 3, b.handleDeleteGroups},
		47: {0, 0, b.handleOffsetDelete},

		19: {2, 7, b.handleCreateTopics},
		20: {1, 6, b.handleDeleteTopics},
		21: {0, 2, b.handleDeleteRecords},
		22: {0, 5, b.handleInitProducerID},
		23: {2, 4, b.handleOffsetForLeaderEpoch},
		32: {1, 4, b.handleDescribeConfigs},
		33: {0, 2, b.handleAlterConfigs},
		35: {1, 4, b.handleDescribeLogDirs},
		37: {0, 3, b.handleCreatePartitions},
		43: {0, 2, b.handleElectLeaders},
		44: {0, 1, b.handleIncrementalAlterConfigs},
		45: {0, 0, b.handleAlterPartitionReassignments},
		46: {0, 0, b.handleListPartitionReassignments},
		60: {0, 1, b.handleDescribeCluster},
		61: {0, 0, b.handleDescribeProducers},
	}
	if b.opts.Assignors != nil { // weir: KIP-848 consumer groups
		t[68] = api{0, 1, b.handleConsumerGroupHeartbeat}
		t[69] = api{0, 1, b.handleConsumerGroupDescribe}
	}
	t[1] = api{4, fetchMaxVersion, b.handleFetch}
	t[apiVersionsKey] = api{0, 4, nil} // listed in its own answer
	t[apiVersionsKey] = api{0, 4, handleApiVersions(t)}
	return t
}

// withDynamicBrokerConfigs returns a copy of static with the dynamic broker
// configs (Kafka names, string form) on top of its [broker] table.
func withDynamicBrokerConfigs(static *config.Config, dynamic map[string]string) (*config.Config, error) {
	cfg := *static
	cfg.Broker = maps.Clone(static.Broker)
	if cfg.Broker == nil {
		cfg.Broker = map[string]config.Value{}
	}
	for _, name := range slices.Sorted(maps.Keys(dynamic)) {
		v, err := config.ParseBrokerValue(name, dynamic[name])
		if err != nil {
			return nil, err
		}
		cfg.Broker[name] = v
	}
	return &cfg, nil
}

func msDuration(ms int64) time.Duration { return time.Duration(ms) * time.Millisecond }

// respond returns a response of the request's kind, at its version.
func respond[T kmsg.Response](req kmsg.Request) T {
	return req.ResponseKind().(T)
}

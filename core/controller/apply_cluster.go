package controller

import (
	"maps"
	"slices"
	"strconv"
)

// This file holds the Apply rules of the cluster commands (see
// command_cluster.go) and the leader-election rules they share.
//
// Election rules, as Kafka's:
//   - A broker can lead when it is registered, not fenced and not in
//     controlled shutdown (Broker.Live).
//   - A clean election picks the first replica, in replica order, that is
//     in the ISR and can lead.
//   - An unclean election (only where unclean.leader.election.enable is
//     true, or by an explicit ElectLeaders{Unclean: true}) picks the first
//     replica that can lead, and the ISR becomes just that replica.
//   - A broker leaving (fenced, shutting down, restarted) leaves every ISR
//     of which it is not the last member; the last member stays, so that
//     the partition comes back with it.
//   - Every change of leader bumps LeaderEpoch once per command; every
//     change of the partition bumps PartitionEpoch once per command.

// canLead reports whether broker id may lead partitions and join ISRs.
func (img *Image) canLead(id int32) bool {
	b, ok := img.brokers[id]
	return ok && b.Live()
}

// isrLeader returns the first replica of p, in replica order, that is in
// the ISR and can lead; -1 when there is none.
func (img *Image) isrLeader(p *Partition) int32 {
	for _, r := range p.Replicas {
		if slices.Contains(p.ISR, r) && img.canLead(r) {
			return r
		}
	}
	return -1
}

// anyLeader returns the first replica of p that can lead; -1 when none
// can.
func (img *Image) anyLeader(p *Partition) int32 {
	if i := slices.IndexFunc(p.Replicas, img.canLead); i >= 0 {
		return p.Replicas[i]
	}
	return -1
}

// uncleanAllowed reports whether the topic's unclean.leader.election.enable
// is true, from its override or else the dynamic broker config; false when
// neither sets it. The static broker configuration is not in the image: the
// active controller elects with it through ElectLeaders.
func (img *Image) uncleanAllowed(t *Topic) bool {
	const name = "unclean.leader.election.enable"
	if v, ok := t.Configs[name]; ok {
		return v == "true"
	}
	return img.brokerConfigs[name] == "true"
}

// editor collects the partition changes of one command: each changed
// topic is copied once, each edit bumps the partition's epochs once.
type editor struct {
	img    *Image
	topics map[TopicID]*Topic // copies made by this command
}

func (next *Image) editor() *editor { return &editor{img: next} }

// topic returns the topic with the given ID as this command has left it.
func (e *editor) topic(id TopicID) *Topic {
	if t, ok := e.topics[id]; ok {
		return t
	}
	return e.img.topicIDs[id]
}

// edit calls fn with a copy of partition i of topic id, and keeps the
// result when it differs from the partition or fn says force: the leader
// epoch goes up by one when the leader changed or force is true (the same
// broker leads in a new incarnation), the partition epoch by one. It
// reports whether the partition changed.
func (e *editor) edit(id TopicID, i int, fn func(t *Topic, p *Partition) (force bool)) bool {
	t := e.topic(id)
	orig := t.Partitions[i]
	p := Partition{
		Replicas: slices.Clone(orig.Replicas), ISR: slices.Clone(orig.ISR),
		Leader: orig.Leader, LeaderEpoch: orig.LeaderEpoch, PartitionEpoch: orig.PartitionEpoch,
		AddingReplicas: slices.Clone(orig.AddingReplicas), RemovingReplicas: slices.Clone(orig.RemovingReplicas),
	}
	force := fn(t, &p)
	// Whatever changed the ISR or the leaders may let a reassignment
	// complete (an unclean election can put its last adding replica in).
	e.img.completeReassignment(&p)
	if !force && samePartition(orig, p) {
		return false
	}
	if force || p.Leader != orig.Leader {
		p.LeaderEpoch = orig.LeaderEpoch + 1
	}
	p.PartitionEpoch = orig.PartitionEpoch + 1
	if len(p.AddingReplicas) == 0 {
		p.AddingReplicas = nil
	}
	if len(p.RemovingReplicas) == 0 {
		p.RemovingReplicas = nil
	}
	if _, copied := e.topics[id]; !copied {
		nt := *t
		nt.Partitions = slices.Clone(t.Partitions)
		if e.topics == nil {
			e.topics = make(map[TopicID]*Topic)
		}
		e.topics[id] = &nt
		t = &nt
	}
	t.Partitions[i] = p
	return true
}

// samePartition reports whether a and b have the same replicas, ISR,
// leader and reassignment.
func samePartition(a, b Partition) bool {
	return a.Leader == b.Leader && slices.Equal(a.Replicas, b.Replicas) && slices.Equal(a.ISR, b.ISR) &&
		slices.Equal(a.AddingReplicas, b.AddingReplicas) && slices.Equal(a.RemovingReplicas, b.RemovingReplicas)
}

// finish puts the edited topics into the image.
func (e *editor) finish() {
	if len(e.topics) == 0 {
		return
	}
	img := e.img
	img.topics, img.topicIDs = maps.Clone(img.topics), maps.Clone(img.topicIDs)
	for id, t := range e.topics {
		img.topics[t.Name], img.topicIDs[id] = t, t
	}
	e.topics = nil
}

// each calls fn for every partition of every topic, topics in name order.
func (e *editor) each(fn func(t *Topic, i int, p Partition)) {
	for _, name := range e.img.TopicNames() {
		t := e.topic(e.img.topics[name].ID)
		for i, p := range t.Partitions {
			fn(t, i, p)
		}
	}
}

// leaveBroker takes broker id out of the partitions it leads and the ISRs
// where others remain, as its registration has changed: the image already
// says whether it is fenced, shutting down or registered again. A
// partition it led gets a clean election; with none possible and unclean
// true, an unclean one where the topic allows it. When it registered
// again and is the last ISR member, it leads again at a new leader epoch.
func (e *editor) leaveBroker(id int32, unclean bool) {
	img := e.img
	e.each(func(t *Topic, i int, p Partition) {
		if p.Leader != id && !slices.Contains(p.ISR, id) {
			return
		}
		e.edit(t.ID, i, func(t *Topic, p *Partition) bool {
			if len(p.ISR) > 1 {
				p.ISR = slices.DeleteFunc(p.ISR, func(r int32) bool { return r == id })
			}
			if p.Leader != id {
				return false
			}
			p.Leader = img.isrLeader(p)
			if p.Leader < 0 && unclean && img.uncleanAllowed(t) {
				electUnclean(img, p)
			}
			return p.Leader == id // a new incarnation of the same broker
		})
	})
}

// electUnclean makes the first live replica p's leader and its ISR just
// that replica; with none, p stays leaderless. It reports whether it
// elected.
func electUnclean(img *Image, p *Partition) bool {
	l := img.anyLeader(p)
	if l < 0 {
		return false
	}
	p.Leader, p.ISR = l, []int32{l}
	return true
}

// electLeaderless gives every leaderless partition a leader: the first live
// ISR member, or where the topic allows unclean election, the first live
// replica.
func (e *editor) electLeaderless() {
	img := e.img
	e.each(func(t *Topic, i int, p Partition) {
		if p.Leader >= 0 {
			return
		}
		e.edit(t.ID, i, func(t *Topic, p *Partition) bool {
			if p.Leader = img.isrLeader(p); p.Leader < 0 && img.uncleanAllowed(t) {
				electUnclean(img, p)
			}
			return false
		})
	})
}

// registeredBroker returns broker id if its registration is epoch, or an
// ErrUnknownBroker or ErrStaleBrokerEpoch error naming what.
func (next *Image) registeredBroker(what string, id int32, epoch int64) (Broker, error) {
	b, ok := next.brokers[id]
	if !ok {
		return Broker{}, fail(ErrUnknownBroker, "%s: broker %d is not registered", what, id)
	}
	if b.Epoch != epoch {
		return Broker{}, fail(ErrStaleBrokerEpoch, "%s: broker %d epoch %d is not its current registration (epoch %d)", what, id, epoch, b.Epoch)
	}
	return b, nil
}

func (next *Image) fenceBroker(c FenceBroker) error {
	b, err := next.registeredBroker("fence", c.ID, c.Epoch)
	if err != nil {
		return err
	}
	b.Fenced = true
	next.putBroker(b)
	e := next.editor()
	e.leaveBroker(b.ID, true)
	e.finish()
	return nil
}

func (next *Image) unfenceBroker(c UnfenceBroker) error {
	b, err := next.registeredBroker("unfence", c.ID, c.Epoch)
	if err != nil {
		return err
	}
	if !b.Fenced {
		return nil
	}
	b.Fenced = false
	next.putBroker(b)
	e := next.editor()
	e.electLeaderless()
	e.finish()
	return nil
}

func (next *Image) controlledShutdown(c ControlledShutdown) error {
	b, err := next.registeredBroker("controlled shutdown", c.ID, c.Epoch)
	if err != nil {
		return err
	}
	b.InControlledShutdown = true
	next.putBroker(b)
	e := next.editor()
	// No unclean election: the broker is still up with its log, and a
	// clean shutdown must not lose records.
	e.leaveBroker(b.ID, false)
	e.finish()
	return nil
}

// partitionOf returns partition p of topic id as e has it, or an
// ErrUnknownTopic error naming it.
func (e *editor) partitionOf(id TopicID, p int32) (*Topic, error) {
	t := e.topic(id)
	if t == nil {
		return nil, fail(ErrUnknownTopic, "no topic has ID %s", id)
	}
	if p < 0 || int(p) >= len(t.Partitions) {
		return nil, fail(ErrUnknownTopic, "topic %q has no partition %d", t.Name, p)
	}
	return t, nil
}

func (next *Image) alterPartition(c AlterPartition, res *Result) error {
	e := next.editor()
	t, err := e.partitionOf(c.TopicID, c.Partition)
	if err != nil {
		return errorf(ErrUnknownTopic, []error{ErrInvalidCommand}, "alter partition: %v", err)
	}
	name := partitionName(t, int(c.Partition))
	p := t.Partitions[c.Partition]
	switch {
	case c.BrokerID < 0 || p.Leader != c.BrokerID:
		return fail(ErrFencedLeaderEpoch, "alter partition %s: broker %d is not the leader (the leader is %d at leader epoch %d)", name, c.BrokerID, p.Leader, p.LeaderEpoch)
	case c.LeaderEpoch != p.LeaderEpoch:
		return fail(ErrFencedLeaderEpoch, "alter partition %s: leader epoch %d is not the partition's, %d", name, c.LeaderEpoch, p.LeaderEpoch)
	}
	if _, err := next.registeredBroker("alter partition "+name, c.BrokerID, c.BrokerEpoch); err != nil {
		return err
	}
	switch {
	case c.PartitionEpoch != p.PartitionEpoch:
		return fail(ErrInvalidUpdateVersion, "alter partition %s: partition epoch %d is not the partition's, %d", name, c.PartitionEpoch, p.PartitionEpoch)
	case len(c.ISR) == 0:
		return fail(ErrInvalidCommand, "alter partition %s: the ISR is empty", name)
	case !slices.Contains(c.ISR, c.BrokerID):
		return fail(ErrInvalidCommand, "alter partition %s: the ISR %v does not hold the leader %d", name, c.ISR, c.BrokerID)
	}
	for j, r := range c.ISR {
		switch {
		case slices.Contains(c.ISR[:j], r):
			return fail(ErrInvalidCommand, "alter partition %s: the ISR %v lists broker %d twice", name, c.ISR, r)
		case r == c.BrokerID:
		case !slices.Contains(p.Replicas, r):
			return fail(ErrIneligibleReplica, "alter partition %s: broker %d is not a replica (replicas %v)", name, r, p.Replicas)
		case !next.canLead(r):
			return fail(ErrIneligibleReplica, "alter partition %s: broker %d is not registered, fenced or shutting down", name, r)
		}
	}
	e.edit(c.TopicID, int(c.Partition), func(t *Topic, p *Partition) bool {
		p.ISR = slices.Clone(c.ISR)
		return false // edit completes a reassignment the new ISR allows
	})
	e.finish()
	final := e.img.topicIDs[c.TopicID].Partitions[c.Partition]
	res.LeaderEpoch, res.PartitionEpoch = final.LeaderEpoch, final.PartitionEpoch
	return nil
}

func (next *Image) electLeaders(c ElectLeaders, res *Result) error {
	e := next.editor()
	elect := func(t *Topic, i int) error {
		var err error
		e.edit(t.ID, i, func(t *Topic, p *Partition) bool {
			err = next.elect(partitionName(t, i), p, c.Unclean)
			return false
		})
		return err
	}
	if len(c.Partitions) == 0 {
		e.each(func(t *Topic, i int, p Partition) {
			if elect(t, i) == nil {
				res.Partitions = append(res.Partitions, PartitionResult{TopicID: t.ID, Partition: int32(i)})
			}
		})
	} else {
		for _, tp := range c.Partitions {
			t, err := e.partitionOf(tp.TopicID, tp.Partition)
			if err == nil {
				err = elect(t, int(tp.Partition))
			}
			res.Partitions = append(res.Partitions, PartitionResult{TopicID: tp.TopicID, Partition: tp.Partition, Err: err})
		}
	}
	e.finish()
	return nil
}

// elect runs a preferred or unclean election on p (see ElectLeaders); nil
// means p got a new leader.
func (next *Image) elect(name string, p *Partition, unclean bool) error {
	if unclean {
		if p.Leader >= 0 {
			return fail(ErrElectionNotNeeded, "partition %s has a leader, broker %d", name, p.Leader)
		}
		if p.Leader = next.isrLeader(p); p.Leader >= 0 || electUnclean(next, p) {
			return nil
		}
		return fail(ErrEligibleLeadersNotAvailable, "partition %s: none of its replicas %v is live", name, p.Replicas)
	}
	preferred := p.Replicas[0]
	switch {
	case p.Leader == preferred:
		return fail(ErrElectionNotNeeded, "partition %s is led by its preferred replica %d", name, preferred)
	case !slices.Contains(p.ISR, preferred) || !next.canLead(preferred):
		return fail(ErrPreferredLeaderNotAvailable, "partition %s: its preferred replica %d is not live or not in the ISR %v", name, preferred, p.ISR)
	}
	p.Leader = preferred
	return nil
}

func (next *Image) alterPartitionReassignments(c AlterPartitionReassignments, res *Result) error {
	e := next.editor()
	for _, r := range c.Reassignments {
		t, err := e.partitionOf(r.TopicID, r.Partition)
		if err == nil {
			name := partitionName(t, int(r.Partition))
			err = next.checkTarget(name, r.Replicas)
			if err == nil {
				e.edit(t.ID, int(r.Partition), func(t *Topic, p *Partition) bool {
					err = next.reassign(name, p, r.Replicas)
					return false
				})
			}
		}
		res.Partitions = append(res.Partitions, PartitionResult{TopicID: r.TopicID, Partition: r.Partition, Err: err})
	}
	e.finish()
	return nil
}

// checkTarget checks a reassignment's target replicas: nil (cancel), or
// distinct registered brokers.
func (next *Image) checkTarget(name string, target []int32) error {
	if target == nil {
		return nil
	}
	if len(target) == 0 {
		return fail(ErrInvalidReplicaAssignment, "reassign partition %s: the target replica list is empty", name)
	}
	for j, r := range target {
		if slices.Contains(target[:j], r) {
			return fail(ErrInvalidReplicaAssignment, "reassign partition %s: the target lists broker %d twice", name, r)
		}
		if _, ok := next.brokers[r]; !ok {
			return fail(ErrInvalidReplicaAssignment, "reassign partition %s: broker %d is not registered", name, r)
		}
	}
	return nil
}

// reassign starts, replaces or (target nil) cancels p's reassignment. On
// error p is left as it was.
func (next *Image) reassign(name string, p *Partition, target []int32) error {
	if target == nil && !p.Reassigning() {
		return fail(ErrNoReassignmentInProgress, "reassign partition %s: no reassignment is in progress", name)
	}
	if p.Reassigning() {
		isr := slices.DeleteFunc(slices.Clone(p.ISR), func(r int32) bool { return slices.Contains(p.AddingReplicas, r) })
		if len(isr) == 0 {
			return fail(ErrInvalidReplicaAssignment, "reassign partition %s: cannot undo the ongoing reassignment: none of the original replicas is in the ISR %v", name, p.ISR)
		}
		adding := p.AddingReplicas
		p.Replicas = slices.DeleteFunc(p.Replicas, func(r int32) bool { return slices.Contains(adding, r) })
		p.ISR, p.AddingReplicas, p.RemovingReplicas = isr, nil, nil
		if !slices.Contains(p.Replicas, p.Leader) {
			p.Leader = next.isrLeader(p)
		}
	}
	if target == nil {
		return nil
	}
	var adding, removing []int32
	for _, r := range target {
		if !slices.Contains(p.Replicas, r) {
			adding = append(adding, r)
		}
	}
	for _, r := range p.Replicas {
		if !slices.Contains(target, r) {
			removing = append(removing, r)
		}
	}
	p.Replicas = append(slices.Clone(target), removing...)
	p.AddingReplicas, p.RemovingReplicas = adding, removing
	return nil // edit completes the reassignment when the ISR allows
}

// completeReassignment finishes p's reassignment when every adding replica
// is in the ISR and some target replica is: Replicas becomes the target,
// the ISR keeps its target members, and a leader that is not a target
// replica (or none) is replaced by a clean election.
func (next *Image) completeReassignment(p *Partition) {
	if !p.Reassigning() {
		return
	}
	for _, r := range p.AddingReplicas {
		if !slices.Contains(p.ISR, r) {
			return
		}
	}
	target := p.TargetReplicas()
	isr := slices.DeleteFunc(slices.Clone(p.ISR), func(r int32) bool { return !slices.Contains(target, r) })
	if len(isr) == 0 {
		return
	}
	p.Replicas, p.ISR, p.AddingReplicas, p.RemovingReplicas = target, isr, nil, nil
	if !slices.Contains(target, p.Leader) {
		p.Leader = next.isrLeader(p)
	}
}

// partitionName returns "topic-partition".
func partitionName(t *Topic, i int) string { return t.Name + "-" + strconv.Itoa(i) }

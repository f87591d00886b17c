package partition

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// Transcript tests of the replication state machine (replica_state.go),
// datadriven-style: each file in testdata/replication is a script of
// commands, each followed by "----" and the output it must produce, then a
// blank line. The scripts drive a small simulated cluster: every replica
// is a replicaState over an in-memory log (the epoch of each offset), and
// "fetch" plays one round of a follower's fetcher — the OffsetForLeaderEpoch
// walk when it starts following, then one Fetch with its last fetched
// epoch — calling the same pure functions the real driver calls. No
// sockets, no sleeps: time is the now= argument.
//
// Run with -rewrite to regenerate the expected output (then read the diff).
//
// Commands (ids are broker ids; now= is milliseconds):
//
//	init ids=1,2,3 lag=100           replicas with empty logs; replica.lag.time.max.ms
//	leader id= epoch= pe= [isr=] [replicas=] [ineligible=] [now=]   metadata names id leader
//	follower id= leader= epoch= pe= [isr=] [replicas=] [truncate=fetch]
//	                                  truncate=fetch skips the OffsetForLeaderEpoch walk
//	append id= n=                     the leader appends n records in its epoch
//	write id= epochs=1,1,2            records written straight into a log (history)
//	fetch id= [now=]                  one fetch round of follower id
//	report id= from= offset= [now=]   leader id receives a fetch from follower from= at offset
//	tick id= now=                     the leader's ISR expiry check
//	commit id= / reject id= [now=]    the controller's answer to the replica's latest proposal
//	restart id= [hw=]                 a new machine over the same log, HW from the checkpoint
//	acks id= offset= min-isr=         an acks=all write ending at offset, appended in the current epoch
//	check-min-isr id= min-isr=        the check before an acks=all append
//	check-epoch id= epoch= [leader=true]   a request's current leader epoch
//	state [id=]                       the replicas' state

var rewrite = flag.Bool("rewrite", false, "rewrite the expected output of transcript tests")

func TestReplicationTranscripts(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "replication", "*.txt"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no transcripts: %v", err)
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".txt"), func(t *testing.T) { runTranscript(t, f) })
	}
}

type transcriptCase struct {
	line     int
	cmd      string
	expected string
}

func parseTranscript(t *testing.T, path string) ([]transcriptCase, []string) {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(data), "\n")
	var cases []transcriptCase
	var preamble []string // comments and blank lines before each case, kept for rewriting
	var pending []string
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		if strings.TrimSpace(l) == "" || strings.HasPrefix(l, "#") {
			pending = append(pending, l)
			continue
		}
		c := transcriptCase{line: i + 1, cmd: l}
		if i+1 >= len(lines) || lines[i+1] != "----" {
			t.Fatalf("%s:%d: command without ---- after it", path, i+1)
		}
		i += 2
		var out []string
		for ; i < len(lines) && lines[i] != ""; i++ {
			out = append(out, lines[i])
		}
		c.expected = strings.Join(out, "\n")
		preamble = append(preamble, strings.Join(pending, "\n"))
		pending = nil
		cases = append(cases, c)
	}
	return cases, preamble
}

func runTranscript(t *testing.T, path string) {
	cases, preamble := parseTranscript(t, path)
	s := &simCluster{replicas: map[int32]*simReplica{}}
	var rewritten strings.Builder
	for i, c := range cases {
		got := strings.TrimRight(s.run(c.cmd), "\n")
		if *rewrite {
			if preamble[i] != "" {
				rewritten.WriteString(preamble[i] + "\n")
			}
			fmt.Fprintf(&rewritten, "%s\n----\n%s\n\n", c.cmd, got)
			continue
		}
		if got != c.expected {
			t.Errorf("%s:%d: %s\n got:\n%s\nwant:\n%s", path, c.line, c.cmd, got, c.expected)
		}
	}
	if *rewrite {
		if err := os.WriteFile(path, []byte(strings.TrimRight(rewritten.String(), "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// simLog is an in-memory log: the leader epoch of each offset, from 0.
type simLog struct{ epochs []int32 }

func (l *simLog) LogEndOffset() int64 { return int64(len(l.epochs)) }

func (l *simLog) LatestEpoch() int32 {
	if len(l.epochs) == 0 {
		return -1
	}
	return l.epochs[len(l.epochs)-1]
}

// EndOffsetForEpoch answers as the log's leader epoch cache does (see
// core/log's endOffsetFor): the largest epoch <= requested and the start of
// the next epoch, or the LEO for the latest; an epoch older than every
// entry gets (requested, the first entry's start); (-1, -1) for none.
func (l *simLog) EndOffsetForEpoch(requested int32) (int32, int64) {
	type entry struct {
		epoch int32
		start int64
	}
	var entries []entry
	for o, e := range l.epochs {
		if len(entries) == 0 || entries[len(entries)-1].epoch != e {
			entries = append(entries, entry{e, int64(o)})
		}
	}
	if requested < 0 || len(entries) == 0 {
		return -1, -1
	}
	last := entries[len(entries)-1]
	switch {
	case requested == last.epoch:
		return requested, l.LogEndOffset()
	case requested > last.epoch:
		return -1, -1
	}
	i := 0
	for i < len(entries) && entries[i].epoch <= requested {
		i++
	}
	if i == 0 {
		return requested, entries[0].start
	}
	return entries[i-1].epoch, entries[i].start
}

func (l *simLog) truncate(offset int64) {
	if offset < l.LogEndOffset() {
		l.epochs = l.epochs[:offset]
	}
}

func (l *simLog) String() string { return fmt.Sprint(l.epochs) }

type simReplica struct {
	id         int32
	log        *simLog
	m          *replicaState
	truncating bool       // following a new epoch: find the divergence first
	proposal   *ISRChange // the latest ISR change it proposed
}

type simCluster struct {
	ids      []int32
	lagMaxMs int64
	replicas map[int32]*simReplica
}

type simArgs map[string]string

func (a simArgs) int(key string, dflt int64) int64 {
	v, ok := a[key]
	if !ok {
		return dflt
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		panic(fmt.Sprintf("%s=%q: %v", key, v, err))
	}
	return n
}

func (a simArgs) ids(key string, dflt []int32) []int32 {
	v, ok := a[key]
	if !ok {
		return dflt
	}
	var out []int32
	if v == "" {
		return out
	}
	for _, f := range strings.Split(v, ",") {
		n, err := strconv.ParseInt(f, 10, 32)
		if err != nil {
			panic(fmt.Sprintf("%s=%q: %v", key, v, err))
		}
		out = append(out, int32(n))
	}
	return out
}

func (s *simCluster) replica(a simArgs) *simReplica {
	r := s.replicas[int32(a.int("id", -1))]
	if r == nil {
		panic(fmt.Sprintf("no replica %q", a["id"]))
	}
	return r
}

func (s *simCluster) run(line string) (out string) {
	fields := strings.Fields(line)
	a := simArgs{}
	for _, f := range fields[1:] {
		k, v, _ := strings.Cut(f, "=")
		a[k] = v
	}
	defer func() {
		if r := recover(); r != nil {
			out = fmt.Sprintf("bad command: %v", r)
		}
	}()
	var b strings.Builder
	now := a.int("now", 0)
	switch fields[0] {
	case "init":
		s.ids = a.ids("ids", nil)
		s.lagMaxMs = a.int("lag", 100)
		for _, id := range s.ids {
			s.replicas[id] = &simReplica{id: id, log: &simLog{}, m: newReplicaState(id, 0, 0, s.lagMaxMs)}
		}
		return "ok"
	case "leader":
		r := s.replica(a)
		st := Leadership{Leader: r.id, LeaderEpoch: int32(a.int("epoch", 0)), PartitionEpoch: int32(a.int("pe", 0)),
			Replicas: a.ids("replicas", s.ids), ISR: a.ids("isr", s.ids), Ineligible: a.ids("ineligible", nil)}
		eff, err := r.m.becomeLeader(st, r.log.LogEndOffset(), now)
		if err != nil {
			return fmt.Sprintf("ignored: %v", err)
		}
		writeEffects(&b, r, eff)
	case "follower":
		r := s.replica(a)
		st := Leadership{Leader: int32(a.int("leader", -1)), LeaderEpoch: int32(a.int("epoch", 0)), PartitionEpoch: int32(a.int("pe", 0)),
			Replicas: a.ids("replicas", s.ids), ISR: a.ids("isr", s.ids)}
		eff, truncate, err := r.m.becomeFollower(st, r.log.LogEndOffset())
		if err != nil {
			return fmt.Sprintf("ignored: %v", err)
		}
		if a["truncate"] == "fetch" {
			// The follower skips OffsetForLeaderEpoch and relies on the
			// fetch's diverging-epoch answer, as Kafka 2.7+ followers do.
			truncate = false
		}
		r.truncating = r.truncating || truncate
		if truncate {
			fmt.Fprintf(&b, "%d must find its divergence from %d before fetching\n", r.id, st.Leader)
		}
		writeEffects(&b, r, eff)
	case "append":
		r := s.replica(a)
		if r.m.role != roleLeader {
			return fmt.Sprintf("%d is not the leader", r.id)
		}
		for range a.int("n", 1) {
			r.log.epochs = append(r.log.epochs, r.m.leaderEpoch)
		}
		writeEffects(&b, r, r.m.localAppend(r.log.LogEndOffset()))
	case "write":
		r := s.replica(a)
		for _, e := range a.ids("epochs", nil) {
			r.log.epochs = append(r.log.epochs, e)
		}
		r.m.localAppend(r.log.LogEndOffset())
		fmt.Fprintf(&b, "%d: log=%v", r.id, r.log)
	case "fetch":
		s.fetch(&b, s.replica(a), now)
	case "report":
		// A follower's fetch position as the leader receives it, whatever
		// the follower's log (a follower that restarted and truncated).
		r := s.replica(a)
		eff, err := r.m.followerFetch(int32(a.int("from", -1)), a.int("offset", 0), now)
		if err != nil {
			return err.Error()
		}
		writeEffects(&b, r, eff)
		writeState(&b, r)
	case "tick":
		r := s.replica(a)
		writeEffects(&b, r, r.m.tick(now))
	case "commit", "reject":
		// The answer to the replica's latest proposal, which may no longer
		// be the change in flight (a newer term or metadata settled it).
		r := s.replica(a)
		if r.proposal == nil {
			return "nothing proposed"
		}
		outcome := isrCommitted
		if fields[0] == "reject" {
			outcome = isrRejected
		}
		change := r.proposal
		r.proposal = nil
		writeEffects(&b, r, r.m.isrAnswer(change, outcome, change.PartitionEpoch+1, now))
	case "restart":
		r := s.replica(a)
		r.m = newReplicaState(r.id, a.int("hw", r.m.hw), r.log.LogEndOffset(), s.lagMaxMs)
		r.truncating = false
		writeState(&b, r)
	case "acks":
		r := s.replica(a)
		return r.m.ackState(a.int("offset", 0), r.m.leaderEpoch, int(a.int("min-isr", 1))).String()
	case "check-min-isr":
		r := s.replica(a)
		if err := r.m.checkMinISR(int(a.int("min-isr", 1))); err != nil {
			return err.Error()
		}
		return "ok"
	case "check-epoch":
		r := s.replica(a)
		if err := r.m.checkLeaderEpoch(int32(a.int("epoch", -1)), a["leader"] == "true"); err != nil {
			return err.Error()
		}
		return "ok"
	case "state":
		if _, ok := a["id"]; ok {
			writeState(&b, s.replica(a))
			break
		}
		for _, id := range s.ids {
			writeState(&b, s.replicas[id])
		}
	default:
		return fmt.Sprintf("unknown command %q", fields[0])
	}
	return b.String()
}

// fetch plays one round of follower r's fetcher against its leader.
func (s *simCluster) fetch(b *strings.Builder, r *simReplica, now int64) {
	if r.m.role != roleFollower || r.m.leader < 0 {
		fmt.Fprintf(b, "%d has no leader to fetch from\n", r.id)
		return
	}
	l := s.replicas[r.m.leader]
	if err := l.m.checkLeaderEpoch(r.m.leaderEpoch, true); err != nil {
		fmt.Fprintf(b, "%d answers: %v\n", l.id, err)
		return
	}
	for r.truncating {
		latest := r.log.LatestEpoch()
		if latest < 0 {
			off := min(r.m.hw, r.log.LogEndOffset())
			fmt.Fprintf(b, "%d has no epochs: truncates to its hw %d\n", r.id, off)
			r.log.truncate(off)
			r.m.truncated(r.log.LogEndOffset(), 0)
			r.truncating = false
			break
		}
		ans := leaderEndOffsetForEpoch(latest, l.m.leaderEpoch, l.log)
		off, done := truncationOffset(ans, r.log, r.m.hw)
		fmt.Fprintf(b, "%d asks %d where epoch %d ends: epoch %d ends at %d; %d truncates to %d", r.id, l.id, latest, ans.Epoch, ans.EndOffset, r.id, off)
		if !done {
			b.WriteString(" and asks again")
		}
		b.WriteString("\n")
		r.log.truncate(off)
		r.m.truncated(r.log.LogEndOffset(), 0)
		r.truncating = !done
	}

	// The leader checks the follower's last fetched epoch first (so a
	// follower whose log runs past the leader's learns where they diverge),
	// then the offset.
	offset, lastEpoch := r.log.LogEndOffset(), r.log.LatestEpoch()
	div, diverging, err := divergence(lastEpoch, offset, l.m.leaderEpoch, l.log)
	if err != nil {
		fmt.Fprintf(b, "%d fetches from %d: %v\n", r.id, offset, err)
		return
	}
	if diverging {
		// Not done means the next fetch carries the new last epoch and
		// diverges again: the walk continues fetch by fetch.
		off, _ := truncationOffset(div, r.log, r.m.hw)
		fmt.Fprintf(b, "%d fetches from %d (last epoch %d): diverging, epoch %d ends at %d; %d truncates to %d\n",
			r.id, offset, lastEpoch, div.Epoch, div.EndOffset, r.id, off)
		r.log.truncate(off)
		r.m.truncated(r.log.LogEndOffset(), 0)
		return
	}
	if offset > l.log.LogEndOffset() {
		fmt.Fprintf(b, "%d fetches from %d: offset out of range (leader leo %d); %d truncates to it\n", r.id, offset, l.log.LogEndOffset(), r.id)
		r.log.truncate(l.log.LogEndOffset())
		r.m.truncated(r.log.LogEndOffset(), 0)
		return
	}
	eff, err := l.m.followerFetch(r.id, offset, now)
	if err != nil {
		fmt.Fprintf(b, "%d fetches from %d: %v\n", r.id, offset, err)
		return
	}
	got := slices.Clone(l.log.epochs[offset:])
	r.log.epochs = append(r.log.epochs, got...)
	r.m.localAppend(r.log.LogEndOffset())
	r.m.leaderHW(l.m.hw)
	fmt.Fprintf(b, "%d fetches from %d: gets %d records %v, leader hw %d\n", r.id, offset, len(got), got, l.m.hw)
	writeEffects(b, l, eff)
	fmt.Fprintf(b, "%d: leo=%d hw=%d\n", r.id, r.log.LogEndOffset(), r.m.hw)
}

func writeEffects(b *strings.Builder, r *simReplica, eff effects) {
	var parts []string
	if eff.roleChanged {
		parts = append(parts, "role="+r.m.role.String()+" epoch="+strconv.Itoa(int(r.m.leaderEpoch)))
	}
	if eff.hwMoved {
		parts = append(parts, "hw moved")
	}
	if eff.propose != nil {
		r.proposal = eff.propose
		parts = append(parts, "propose "+eff.propose.String())
	}
	if eff.shrinks > 0 {
		parts = append(parts, "isr shrunk")
	}
	if eff.expands > 0 {
		parts = append(parts, "isr expanded")
	}
	if len(parts) == 0 {
		parts = append(parts, "no effects")
	}
	fmt.Fprintf(b, "%d: %s\n", r.id, strings.Join(parts, ", "))
	if eff.hwMoved || eff.roleChanged || eff.shrinks+eff.expands > 0 {
		writeState(b, r)
	}
}

func writeState(b *strings.Builder, r *simReplica) {
	m := r.m
	fmt.Fprintf(b, "%d: %s epoch=%d pe=%d leo=%d hw=%d log=%v", r.id, m.role, m.leaderEpoch, m.partitionEpoch, m.leo, m.hw, r.log)
	if m.role == roleFollower {
		fmt.Fprintf(b, " leader=%d", m.leader)
	}
	if m.role == roleLeader {
		fmt.Fprintf(b, " isr=%v", m.isr)
		if m.pending != nil {
			fmt.Fprintf(b, " pending=%v", m.pending.ISR)
		}
		ids := make([]int, 0, len(m.followers))
		for id := range m.followers {
			ids = append(ids, int(id))
		}
		sort.Ints(ids)
		var fs []string
		for _, id := range ids {
			f := m.followers[int32(id)]
			fs = append(fs, fmt.Sprintf("%d:leo=%d,caught-up=%d", id, f.leo, f.lastCaughtUpMs))
		}
		fmt.Fprintf(b, " followers={%s}", strings.Join(fs, " "))
	}
	b.WriteString("\n")
}

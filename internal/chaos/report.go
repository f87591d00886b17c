package chaos

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// String renders the report for people: the run, the faults injected by
// kind, records acknowledged, lost and duplicated, the other checks, the
// p50/p99 time to a new leader, every problem, then the fault log.
func (r *Report) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "chaos run: seed %d, %d brokers, %d partitions, RF %d, min.insync.replicas %d, %v\n",
		r.Seed, r.Nodes, r.Partitions, r.RF, r.MinISR, r.Elapsed.Round(100*time.Millisecond))
	byKind := r.FaultsByKind()
	var kinds []string
	for _, k := range AllFaultKinds {
		kinds = append(kinds, fmt.Sprintf("%s %d", k, byKind[k]))
	}
	fmt.Fprintf(&b, "faults injected:      %d (%s)\n", len(r.Faults), strings.Join(kinds, ", "))
	failed := 0
	for _, n := range r.Failed {
		failed += n
	}
	fmt.Fprintf(&b, "records acknowledged: %d (produced %d, failed %d, unsettled %d)\n", r.Acked, r.Produced, failed, r.Unsettled)
	v := r.Verification
	fmt.Fprintf(&b, "lost:                 %d\n", v.Lost)
	fmt.Fprintf(&b, "duplicated:           %d\n", v.Duplicated)
	fmt.Fprintf(&b, "other violations:     misplaced %d, out of order %d, gaps %d, served but not in the final log %d\n",
		v.Misplaced, v.OutOfOrder, v.Gaps, v.Phantoms)
	for _, c := range r.Consumers {
		fmt.Fprintf(&b, "consumer %-9s     saw %d records (%d fetch errors)\n", c.Name+":", c.Seen, sumCounts(c.Errors))
	}
	batches, diverged := 0, 0
	for _, rc := range r.Replicas {
		batches += rc.Batches
		if len(rc.Problems) > 0 {
			diverged++
		}
	}
	fmt.Fprintf(&b, "replicas on disk:     %d partitions compared up to the HW, %d batches per replica, %d partitions with problems\n",
		len(r.Replicas), batches, diverged)
	lt := r.LeaderTimes()
	fmt.Fprintf(&b, "time to new leader:   p50 %v, p99 %v (%d leader changes measured)\n",
		Percentile(lt, 50).Round(time.Millisecond), Percentile(lt, 99).Round(time.Millisecond), len(lt))
	var per []string
	for _, k := range AllFaultKinds {
		if kt := r.LeaderTimes(k); len(kt) > 0 {
			per = append(per, fmt.Sprintf("%s p50 %v p99 %v (%d)", k,
				Percentile(kt, 50).Round(time.Millisecond), Percentile(kt, 99).Round(time.Millisecond), len(kt)))
		}
	}
	if len(per) > 0 {
		fmt.Fprintf(&b, "  by fault:           %s\n", strings.Join(per, "; "))
	}
	if len(r.Failed) > 0 {
		fmt.Fprintf(&b, "producer failures:    %s\n", describeCounts(r.Failed))
	}
	for _, c := range r.Consumers {
		if len(c.Errors) > 0 {
			fmt.Fprintf(&b, "%s fetch errors: %s\n", c.Name, describeCounts(c.Errors))
		}
	}
	if len(r.Problems) == 0 {
		b.WriteString("problems:             none\n")
	} else {
		fmt.Fprintf(&b, "problems:             %d\n", len(r.Problems))
		for _, p := range r.Problems {
			fmt.Fprintf(&b, "  - %s\n", p)
		}
	}
	b.WriteString("fault log:\n")
	for i, f := range r.Faults {
		fmt.Fprintf(&b, "  %2d. %v\n", i+1, f)
	}
	return b.String()
}

func sumCounts(m map[string]int) int {
	n := 0
	for _, c := range m {
		n += c
	}
	return n
}

// describeCounts renders counts by text, most frequent first, at most ten.
func describeCounts(m map[string]int) string {
	type kv struct {
		k string
		n int
	}
	var s []kv
	for k, n := range m {
		s = append(s, kv{k, n})
	}
	sort.Slice(s, func(i, j int) bool { return s[i].n > s[j].n || s[i].n == s[j].n && s[i].k < s[j].k })
	var parts []string
	for i, e := range s {
		if i == 10 {
			parts = append(parts, fmt.Sprintf("... %d more kinds", len(s)-10))
			break
		}
		parts = append(parts, fmt.Sprintf("%dx %s", e.n, e.k))
	}
	return strings.Join(parts, "; ")
}

package chaos

import (
	"fmt"
	"sort"
)

// maxExamples is how many examples of each kind of violation a
// Verification keeps.
const maxExamples = 5

// Verification is what the verifier found. Every count other than Acked,
// Final and Seen is a violation.
type Verification struct {
	Acked int // acknowledged records checked
	Final int // records in the final log
	Seen  int // records served to consumers, all consumers together

	Lost       int // acknowledged, and not in the final log at all
	Misplaced  int // acknowledged at one offset, found at another
	Duplicated int // extra copies of a value in the final log
	OutOfOrder int // records whose sequence does not follow the previous one's in their partition
	Gaps       int // offsets missing from a partition's final log below its end
	Phantoms   int // records a consumer was served that are not in the final log at that offset (served above the HW, or truncated)

	// Examples holds up to maxExamples descriptions of each violation, by
	// kind ("lost", "misplaced", ...).
	Examples map[string][]string
}

// OK reports whether nothing was violated.
func (v Verification) OK() bool {
	return v.Lost+v.Misplaced+v.Duplicated+v.OutOfOrder+v.Gaps+v.Phantoms == 0
}

func (v *Verification) example(kind, format string, args ...any) {
	if v.Examples == nil {
		v.Examples = map[string][]string{}
	}
	if len(v.Examples[kind]) < maxExamples {
		v.Examples[kind] = append(v.Examples[kind], fmt.Sprintf(format, args...))
	}
}

type partOff struct {
	partition int32
	offset    int64
}

// Verify checks the invariants of an acks=all idempotent workload:
//
//   - every acknowledged record is in the final log, at the partition and
//     offset it was acknowledged at, with the same value;
//   - no value is in the final log twice (idempotence);
//   - within a partition, the final log holds the producer's records in
//     the order it sent them (sequence numbers increase with offsets);
//   - a partition's final log has no gaps: offsets run densely from its
//     first record (Weir does not compact the workload's topic);
//   - every record any consumer was served is in the final log at the
//     same offset with the same value, so no consumer was served a record
//     above the high watermark that was later truncated.
//
// final holds each partition's log as read back, in offset order, from
// offset 0 to its high watermark; seen holds each consumer's records. The
// inputs are not modified.
func Verify(acks []Record, final map[int32][]Record, seen []ConsumerResult) Verification {
	var v Verification
	at := map[partOff]Record{}
	where := map[uint64][]partOff{}
	parts := make([]int32, 0, len(final))
	for p := range final {
		parts = append(parts, p)
	}
	sort.Slice(parts, func(i, j int) bool { return parts[i] < parts[j] })

	for _, p := range parts {
		recs := final[p]
		v.Final += len(recs)
		var prev *Record
		for i := range recs {
			r := recs[i]
			at[partOff{p, r.Offset}] = r
			where[r.Sum] = append(where[r.Sum], partOff{p, r.Offset})
			if prev == nil {
				if r.Offset != 0 {
					v.Gaps += int(r.Offset)
					v.example("gap", "partition %d starts at offset %d, not 0", p, r.Offset)
				}
			} else {
				if r.Offset != prev.Offset+1 {
					v.Gaps += int(max(r.Offset-prev.Offset-1, 1))
					v.example("gap", "partition %d: offset %d follows %d", p, r.Offset, prev.Offset)
				}
				if r.Seq >= 0 && prev.Seq >= 0 && r.Seq <= prev.Seq {
					v.OutOfOrder++
					v.example("out-of-order", "partition %d: seq %d at offset %d follows seq %d at offset %d", p, r.Seq, r.Offset, prev.Seq, prev.Offset)
				}
			}
			prev = &recs[i]
		}
	}
	for sum, locs := range where {
		if len(locs) > 1 {
			v.Duplicated += len(locs) - 1
			r := at[locs[0]]
			v.example("duplicated", "seq %d (sum %016x) appears %d times: %v", r.Seq, sum, len(locs), locs)
		}
	}

	for _, a := range acks {
		v.Acked++
		r, ok := at[partOff{a.Partition, a.Offset}]
		if ok && r.Sum == a.Sum {
			continue
		}
		if locs := where[a.Sum]; len(locs) > 0 {
			v.Misplaced++
			v.example("misplaced", "seq %d acknowledged at %d/%d, found at %v", a.Seq, a.Partition, a.Offset, locs)
			continue
		}
		v.Lost++
		if ok {
			v.example("lost", "seq %d acknowledged at %d/%d; that offset holds seq %d", a.Seq, a.Partition, a.Offset, r.Seq)
		} else {
			v.example("lost", "seq %d acknowledged at %d/%d; the final log has no such offset", a.Seq, a.Partition, a.Offset)
		}
	}

	for _, c := range seen {
		for _, s := range c.Seen {
			v.Seen++
			r, ok := at[partOff{s.Partition, s.Offset}]
			if ok && r.Sum == s.Sum {
				continue
			}
			v.Phantoms++
			if ok {
				v.example("phantom", "%s was served seq %d at %d/%d; the final log has seq %d there", c.Name, s.Seq, s.Partition, s.Offset, r.Seq)
			} else {
				v.example("phantom", "%s was served seq %d at %d/%d; the final log ends before it", c.Name, s.Seq, s.Partition, s.Offset)
			}
		}
	}
	return v
}

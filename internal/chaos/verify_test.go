package chaos

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// synthetic builds a clean run: partitions partitions, n records each,
// every one acknowledged at its offset and served to one consumer.
func synthetic(partitions int32, n int) (acks []Record, final map[int32][]Record, seen []ConsumerResult) {
	final = map[int32][]Record{}
	var served []Record
	seq := int64(0)
	for i := 0; i < n; i++ {
		for p := range partitions {
			r := RecordOf(p, int64(i), Value(seq, 40))
			seq++
			acks = append(acks, r)
			final[p] = append(final[p], r)
			served = append(served, r)
		}
	}
	return acks, final, []ConsumerResult{{Name: "c", Seen: served}}
}

func cloneFinal(f map[int32][]Record) map[int32][]Record {
	out := map[int32][]Record{}
	for p, rs := range f {
		out[p] = slices.Clone(rs)
	}
	return out
}

func TestValueRoundTrip(t *testing.T) {
	for _, seq := range []int64{0, 7, 123456789012} {
		for _, size := range []int{0, MinValueSize, 100} {
			v := Value(seq, size)
			if len(v) != max(size, MinValueSize) {
				t.Errorf("Value(%d, %d) is %d bytes", seq, size, len(v))
			}
			if got := ParseSeq(v); got != seq {
				t.Errorf("ParseSeq(Value(%d, %d)) = %d", seq, size, got)
			}
		}
	}
	for _, bad := range []string{"", "weir-chaos-", "weir-chaos-00000000000x-", "other-000000000001-pad"} {
		if got := ParseSeq([]byte(bad)); got != -1 {
			t.Errorf("ParseSeq(%q) = %d, want -1", bad, got)
		}
	}
	if Sum(Value(1, 100)) == Sum(Value(2, 100)) {
		t.Error("two values share a sum")
	}
}

func TestVerifyCleanRun(t *testing.T) {
	acks, final, seen := synthetic(3, 50)
	v := Verify(acks, final, seen)
	if !v.OK() || v.Acked != 150 || v.Final != 150 || v.Seen != 150 {
		t.Fatalf("clean run: %+v", v)
	}
	// Records written but never acknowledged (the producer gave up, or
	// stopped waiting) are not violations.
	v = Verify(acks[:100], final, seen)
	if !v.OK() {
		t.Fatalf("unacknowledged records in the log flagged: %+v", v)
	}
}

// TestVerifyCatchesPlantedViolations plants one violation of each kind in
// a clean run and checks that the verifier counts exactly it.
func TestVerifyCatchesPlantedViolations(t *testing.T) {
	cases := []struct {
		name  string
		plant func(acks []Record, final map[int32][]Record, seen []ConsumerResult) ([]Record, map[int32][]Record, []ConsumerResult)
		check func(v Verification) bool
		kind  string
	}{
		{
			name: "lost: an acknowledged record truncated away",
			plant: func(a []Record, f map[int32][]Record, s []ConsumerResult) ([]Record, map[int32][]Record, []ConsumerResult) {
				f[1] = f[1][:len(f[1])-1]
				return a, f, s[:0] // the consumer saw it too; only count the loss here
			},
			check: func(v Verification) bool { return v.Lost == 1 && v.Duplicated == 0 && v.Phantoms == 0 },
			kind:  "lost",
		},
		{
			name: "lost: another record at the acknowledged offset",
			plant: func(a []Record, f map[int32][]Record, s []ConsumerResult) ([]Record, map[int32][]Record, []ConsumerResult) {
				f[2][10] = RecordOf(2, 10, Value(999999, 40))
				return a, f, nil
			},
			check: func(v Verification) bool { return v.Lost == 1 },
			kind:  "lost",
		},
		{
			name: "duplicated: a retried batch written twice",
			plant: func(a []Record, f map[int32][]Record, s []ConsumerResult) ([]Record, map[int32][]Record, []ConsumerResult) {
				dup := f[0][len(f[0])-1]
				dup.Offset++
				f[0] = append(f[0], dup)
				return a, f, s
			},
			check: func(v Verification) bool { return v.Duplicated == 1 && v.Lost == 0 && v.OutOfOrder == 1 },
			kind:  "duplicated",
		},
		{
			name: "misplaced: acknowledged at one offset, stored at another",
			plant: func(a []Record, f map[int32][]Record, s []ConsumerResult) ([]Record, map[int32][]Record, []ConsumerResult) {
				a = slices.Clone(a)
				a[4].Offset += 7
				return a, f, s
			},
			check: func(v Verification) bool { return v.Misplaced == 1 && v.Lost == 0 },
			kind:  "misplaced",
		},
		{
			name: "out of order: two records of a partition swapped",
			plant: func(a []Record, f map[int32][]Record, s []ConsumerResult) ([]Record, map[int32][]Record, []ConsumerResult) {
				r := f[1]
				r[5], r[6] = r[6], r[5]
				r[5].Offset, r[6].Offset = 5, 6
				return nil, f, nil
			},
			check: func(v Verification) bool { return v.OutOfOrder == 1 },
			kind:  "out-of-order",
		},
		{
			name: "gap: an offset missing",
			plant: func(a []Record, f map[int32][]Record, s []ConsumerResult) ([]Record, map[int32][]Record, []ConsumerResult) {
				f[0] = append(f[0][:20:20], f[0][21:]...)
				return nil, f, nil
			},
			check: func(v Verification) bool { return v.Gaps == 1 },
			kind:  "gap",
		},
		{
			name: "phantom: a consumer served a record that is not in the final log (above the HW)",
			plant: func(a []Record, f map[int32][]Record, s []ConsumerResult) ([]Record, map[int32][]Record, []ConsumerResult) {
				s = []ConsumerResult{{Name: "sarama", Seen: []Record{RecordOf(2, 50, Value(424242, 40))}}}
				return a, f, s
			},
			check: func(v Verification) bool { return v.Phantoms == 1 && v.Lost == 0 },
			kind:  "phantom",
		},
		{
			name: "phantom: a consumer served a record later replaced by another leader's",
			plant: func(a []Record, f map[int32][]Record, s []ConsumerResult) ([]Record, map[int32][]Record, []ConsumerResult) {
				s = []ConsumerResult{{Name: "franz-go", Seen: []Record{RecordOf(0, 3, Value(777, 40))}}}
				return a, f, s
			},
			check: func(v Verification) bool { return v.Phantoms == 1 },
			kind:  "phantom",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			acks, final, seen := synthetic(3, 50)
			acks, final, seen = tc.plant(acks, cloneFinal(final), seen)
			v := Verify(acks, final, seen)
			if v.OK() || !tc.check(v) {
				t.Fatalf("verification %+v", v)
			}
			if len(v.Examples[tc.kind]) == 0 {
				t.Fatalf("no %s example: %v", tc.kind, v.Examples)
			}
		})
	}
}

func TestPercentile(t *testing.T) {
	var ds []int
	for i := 1; i <= 100; i++ {
		ds = append(ds, i)
	}
	conv := func(xs []int) (out []time.Duration) {
		for _, x := range xs {
			out = append(out, time.Duration(x))
		}
		return out
	}
	for _, tc := range []struct {
		in   []int
		p    float64
		want int
	}{
		{ds, 50, 50}, {ds, 99, 99}, {ds, 100, 100}, {[]int{7}, 99, 7}, {[]int{3, 1, 2}, 50, 2}, {[]int{1, 2, 3, 4}, 99, 4}, {nil, 50, 0},
	} {
		if got := Percentile(conv(tc.in), tc.p); got != time.Duration(tc.want) {
			t.Errorf("p%v of %d values = %v, want %v", tc.p, len(tc.in), got, tc.want)
		}
	}
}

func TestParseFaultKinds(t *testing.T) {
	ks, err := ParseFaultKinds("kill, cut,restart,pause")
	if err != nil || fmt.Sprint(ks) != "[kill cut restart pause]" {
		t.Fatalf("%v %v", ks, err)
	}
	if _, err := ParseFaultKinds("kill,explode"); err == nil || !strings.Contains(err.Error(), "explode") {
		t.Fatalf("unknown kind: %v", err)
	}
}

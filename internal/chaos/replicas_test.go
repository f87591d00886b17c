package chaos

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/weirmq/weir/core/record"
)

// makeBatch builds an uncompressed batch at base with values for seqs.
func makeBatch(t *testing.T, base int64, epoch int32, seqs ...int64) []byte {
	t.Helper()
	b := record.NewBuilder(record.BuilderOptions{BaseOffset: base, PartitionLeaderEpoch: epoch,
		HasProducerID: true, ProducerID: 7, ProducerEpoch: 0, BaseSequence: int32(base)})
	for i, s := range seqs {
		b.Append(nil, Value(s, 64), 1700000000000+int64(i), nil)
	}
	out, err := b.Build(nil)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// makeLog returns n batches of 5 records each, offsets from 0, epoch 1.
func makeLog(t *testing.T, n int) [][]byte {
	var out [][]byte
	for i := range n {
		base := int64(5 * i)
		out = append(out, makeBatch(t, base, 1, base, base+1, base+2, base+3, base+4))
	}
	return out
}

// writeReplica writes batches into segment files under dir, starting a
// new segment before each batch index in splits.
func writeReplica(t *testing.T, dir string, batches [][]byte, splits ...int) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	starts := append([]int{0}, splits...)
	for i, s := range starts {
		end := len(batches)
		if i+1 < len(starts) {
			end = starts[i+1]
		}
		h, err := record.ReadHeader(batches[s])
		if err != nil {
			t.Fatal(err)
		}
		var data []byte
		for _, b := range batches[s:end] {
			data = append(data, b...)
		}
		name := filepath.Join(dir, fmt.Sprintf("%020d.log", h.BaseOffset))
		if err := os.WriteFile(name, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Files that are not segments are ignored.
	os.WriteFile(filepath.Join(dir, "leader-epoch-checkpoint"), []byte("0\n0\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "00000000000000000000.index"), make([]byte, 80), 0o644)
}

func readReplicas(t *testing.T, root string, nodes ...int32) map[int32][]Batch {
	t.Helper()
	out := map[int32][]Batch{}
	for _, n := range nodes {
		bs, err := ReadReplicaLog(filepath.Join(root, fmt.Sprint(n)), 0)
		if err != nil {
			t.Fatal(err)
		}
		out[n] = bs
	}
	return out
}

func TestReplicasIdenticalAcrossSegmentBoundaries(t *testing.T) {
	root := t.TempDir()
	log := makeLog(t, 20)
	writeReplica(t, filepath.Join(root, "1"), log)
	writeReplica(t, filepath.Join(root, "2"), log, 7, 13)
	writeReplica(t, filepath.Join(root, "3"), log, 1, 2, 3, 19)
	cmp := CompareReplicas(0, 100, readReplicas(t, root, 1, 2, 3))
	if len(cmp.Problems) != 0 {
		t.Fatalf("identical replicas: %v", cmp.Problems)
	}
	if cmp.Batches != 20 || len(cmp.Records) != 100 {
		t.Fatalf("%d batches, %d records; want 20 and 100", cmp.Batches, len(cmp.Records))
	}
	for i, r := range cmp.Records {
		if r.Offset != int64(i) || r.Seq != int64(i) || r.Partition != 0 {
			t.Fatalf("record %d: %+v", i, r)
		}
	}
}

// TestReplicasCatchPlantedDivergence plants differences in one replica:
// those below the high watermark are reported, naming the nodes and the
// batch; those above it are not.
func TestReplicasCatchPlantedDivergence(t *testing.T) {
	cases := []struct {
		name   string
		plant  func(log [][]byte) [][]byte
		hw     int64
		want   string // in a problem; "" for none
		splits []int
	}{
		{name: "other records at the same offsets", hw: 100, want: "node 1 and node 3 diverge at batch 12",
			plant: func(l [][]byte) [][]byte { l[12] = makeBatch(t, 60, 1, 900, 901, 902, 903, 904); return l }},
		{name: "same records, other leader epoch", hw: 100, want: "diverge at batch 4: offsets 20-24 epoch 1",
			plant: func(l [][]byte) [][]byte { l[4] = makeBatch(t, 20, 2, 20, 21, 22, 23, 24); return l }},
		{name: "other batch boundaries", hw: 100, want: "diverge at batch 19",
			plant: func(l [][]byte) [][]byte {
				l[19] = makeBatch(t, 95, 1, 95, 96)
				return append(l, makeBatch(t, 97, 1, 97, 98, 99))
			}},
		{name: "a replica short of the high watermark", hw: 100, want: "node 3: log ends at 90, below the high watermark 100",
			plant: func(l [][]byte) [][]byte { return l[:18] }},
		{name: "a hole in a replica", hw: 100, want: "node 3: batch at offset 55 where 50 was expected",
			plant: func(l [][]byte) [][]byte { return append(l[:10:10], l[11:]...) }, splits: []int{10}},
		{name: "a divergence above the high watermark", hw: 95, want: "",
			plant: func(l [][]byte) [][]byte { l[19] = makeBatch(t, 95, 2, 900, 901, 902, 903, 904); return l }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			log := makeLog(t, 20)
			writeReplica(t, filepath.Join(root, "1"), log)
			writeReplica(t, filepath.Join(root, "2"), log, 10)
			writeReplica(t, filepath.Join(root, "3"), tc.plant(makeLog(t, 20)), tc.splits...)
			cmp := CompareReplicas(0, tc.hw, readReplicas(t, root, 1, 2, 3))
			all := strings.Join(cmp.Problems, "\n")
			if tc.want == "" {
				if len(cmp.Problems) != 0 {
					t.Fatalf("problems above the high watermark reported: %s", all)
				}
				return
			}
			if !strings.Contains(all, tc.want) {
				t.Fatalf("want a problem containing %q, got:\n%s", tc.want, all)
			}
			if strings.Contains(all, "node 2") {
				t.Fatalf("node 2 is identical to node 1 but was reported:\n%s", all)
			}
		})
	}
}

func TestReadReplicaLogRejectsDamage(t *testing.T) {
	log := makeLog(t, 4)
	cases := []struct {
		name  string
		write func(dir string)
		want  string
	}{
		{"bad CRC", func(dir string) {
			data := append(append([]byte(nil), log[0]...), log[1]...)
			data[len(log[0])+70] ^= 0xff // a byte of the second batch's records
			os.WriteFile(filepath.Join(dir, "00000000000000000000.log"), data, 0o644)
		}, "CRC"},
		{"torn tail", func(dir string) {
			data := append(append([]byte(nil), log[0]...), log[1][:30]...)
			os.WriteFile(filepath.Join(dir, "00000000000000000000.log"), data, 0o644)
		}, "torn"},
		{"overlapping segments", func(dir string) {
			os.WriteFile(filepath.Join(dir, "00000000000000000000.log"), append(append([]byte(nil), log[0]...), log[1]...), 0o644)
			os.WriteFile(filepath.Join(dir, "00000000000000000005.log"), log[1], 0o644)
		}, "overlaps"},
		{"impossible length", func(dir string) {
			bad := append([]byte(nil), log[0]...)
			bad[8], bad[9], bad[10], bad[11] = 0x7f, 0xff, 0xff, 0xff
			os.WriteFile(filepath.Join(dir, "00000000000000000000.log"), bad, 0o644)
		}, "impossible"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			tc.write(dir)
			_, err := ReadReplicaLog(dir, 0)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), ".log") {
				t.Fatalf("want an error naming the file and %q, got %v", tc.want, err)
			}
		})
	}
	if _, err := ReadReplicaLog(filepath.Join(t.TempDir(), "missing"), 0); !os.IsNotExist(err) {
		t.Fatalf("missing directory: %v", err)
	}
}

package partitioners

import (
	"context"
	"math/rand/v2"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirmq/weir/sdk"
)

// The Java client's own test vectors (Kafka's UtilsTest.testMurmur2).
func TestMurmur2HashJavaVectors(t *testing.T) {
	for key, want := range map[string]int32{
		"21":                         -973932308,
		"foobar":                     -790332482,
		"a-little-bit-long-string":   -985981536,
		"a-little-bit-longer-string": -1486304829,
		"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
		"abc": 479470107,
	} {
		if got := Murmur2Hash([]byte(key)); got != want {
			t.Errorf("Murmur2Hash(%q) = %d, want %d", key, got, want)
		}
	}
}

// franz-go's default partitioner hashes keys the Java way too: the same key
// must land on the same partition through both.
func TestMurmur2AgreesWithFranzGo(t *testing.T) {
	kp := kgo.StickyKeyPartitioner(nil).ForTopic("t")
	rng := rand.New(rand.NewPCG(1, 2))
	p := Murmur2()
	for i := 0; i < 10000; i++ {
		key := make([]byte, rng.IntN(40))
		for j := range key {
			key[j] = byte(rng.Uint32())
		}
		n := int32(1 + rng.IntN(64))
		out := make([]int32, 1)
		if err := p.Partition(context.Background(), sdk.PartitionInput{Topic: "t", NumPartitions: n, Keys: [][]byte{key}}, out); err != nil {
			t.Fatal(err)
		}
		if want := int32(kp.Partition(&kgo.Record{Key: key}, int(n))); out[0] != want {
			t.Fatalf("key %x over %d partitions: weir %d, franz-go %d", key, n, out[0], want)
		}
	}
}

func TestPartitionersStayInRangeAndSpread(t *testing.T) {
	ctx := context.Background()
	keys := make([][]byte, 1000) // all keyless
	for _, p := range []sdk.Partitioner{Murmur2(), RoundRobin(), UniformSticky()} {
		t.Run(p.Name(), func(t *testing.T) {
			seen := map[int32]int{}
			for call := 0; call < 12; call++ {
				in := sdk.PartitionInput{Topic: "t", NumPartitions: 6, Keys: keys[:100]}
				out := make([]int32, len(in.Keys))
				if err := p.Partition(ctx, in, out); err != nil {
					t.Fatal(err)
				}
				if err := sdk.CheckPartitions(in, out); err != nil {
					t.Fatal(err)
				}
				for _, q := range out {
					seen[q]++
				}
			}
			if len(seen) != 6 {
				t.Fatalf("keyless records reached %d of 6 partitions: %v", len(seen), seen)
			}
		})
	}
}

func TestUniformStickyKeepsKeylessBatchTogether(t *testing.T) {
	p := UniformSticky()
	in := sdk.PartitionInput{Topic: "t", NumPartitions: 8, Keys: [][]byte{nil, []byte("k"), nil, nil}}
	out := make([]int32, 4)
	if err := p.Partition(context.Background(), in, out); err != nil {
		t.Fatal(err)
	}
	if out[0] != out[2] || out[2] != out[3] {
		t.Fatalf("keyless records of one call split: %v", out)
	}
	if want := Murmur2Partition([]byte("k"), 8); out[1] != want {
		t.Fatalf("keyed record on %d, murmur2 says %d", out[1], want)
	}
}

func TestRoundRobinIgnoresKeys(t *testing.T) {
	p := RoundRobin()
	in := sdk.PartitionInput{Topic: "t", NumPartitions: 3, Keys: [][]byte{[]byte("a"), []byte("a"), []byte("a")}}
	out := make([]int32, 3)
	if err := p.Partition(context.Background(), in, out); err != nil {
		t.Fatal(err)
	}
	if out[0] == out[1] || out[1] == out[2] || out[0] == out[2] {
		t.Fatalf("same key dealt to %v, want three partitions", out)
	}
}

func TestBadInput(t *testing.T) {
	for _, p := range []sdk.Partitioner{Murmur2(), RoundRobin(), UniformSticky()} {
		if err := p.Partition(context.Background(), sdk.PartitionInput{Topic: "t", NumPartitions: 0, Keys: [][]byte{nil}}, make([]int32, 1)); err == nil {
			t.Errorf("%s: zero partitions accepted", p.Name())
		}
		if err := p.Partition(context.Background(), sdk.PartitionInput{Topic: "t", NumPartitions: 3, Keys: [][]byte{nil}}, nil); err == nil {
			t.Errorf("%s: short output accepted", p.Name())
		}
	}
	reg := sdk.NewRegistry()
	if err := Register(reg); err != nil {
		t.Fatal(err)
	}
	if err := Register(reg); err == nil {
		t.Fatal("registering twice succeeded")
	}
	if _, ok := reg.Partitioner(Default); !ok {
		t.Fatal("default partitioner not registered")
	}
}

func BenchmarkMurmur2(b *testing.B) {
	keys := make([][]byte, 100)
	for i := range keys {
		keys[i] = []byte("tenant-1234/order-" + string(rune('a'+i%26)))
	}
	p := Murmur2()
	out := make([]int32, len(keys))
	in := sdk.PartitionInput{Topic: "t", NumPartitions: 12, Keys: keys}
	b.ReportAllocs()
	for b.Loop() {
		_ = p.Partition(context.Background(), in, out)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(keys)), "ns/key")
}

package assignors

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"
)

// FuzzStickyUserData: the user data comes from clients; decoding it never
// panics, and anything it accepts is a well-formed v0, v1 or generation.
func FuzzStickyUserData(f *testing.F) {
	f.Add(encodeStickyUserData([]tp{{"a", 1}, {"b", 2}}, 3))
	f.Add(encodeStickyUserData([]tp{{"topic", 0}}, -1))
	f.Add([]byte{0, 0, 0, 7})
	f.Fuzz(func(t *testing.T, b []byte) {
		owned, _, ok := decodeStickyUserData(b)
		if !ok && owned != nil {
			t.Fatal("rejected input returned partitions")
		}
		n := 0
		for _, parts := range owned {
			n += len(parts)
		}
		if n*4 > len(b) {
			t.Fatalf("%d partitions from %d bytes", n, len(b))
		}
	})
}

// FuzzAssign: a random group, with random claims and user data, built from
// the fuzzer's bytes; every assignor's answer must pass the checks that
// assign makes.
func FuzzAssign(f *testing.F) {
	f.Add(uint64(1), uint64(2), []byte(nil))
	f.Add(uint64(7), uint64(0), encodeStickyUserData([]tp{{"t01", 1}}, 2))
	f.Fuzz(func(t *testing.T, seed1, seed2 uint64, userData []byte) {
		rng := rand.New(rand.NewPCG(seed1, seed2))
		in := randomGroup(rng, randomShape(rng, rng.IntN(2) == 0))
		in = randomClaims(rng, in, rng.Float64())
		for i := range in.Members {
			if rng.IntN(3) == 0 {
				in.Members[i].Owned = nil
				in.Members[i].UserData = userData
			}
			if rng.IntN(3) == 0 {
				in.Members[i].Generation = int32(binary.BigEndian.Uint32(append(userData, 0, 0, 0, 0)))
			}
		}
		for _, a := range All() {
			out := assign(t, rng, a, in)
			if _, isCooperative := a.(*CooperativeSticky); !isCooperative {
				checkComplete(t, a.Name(), in, out)
			}
		}
	})
}

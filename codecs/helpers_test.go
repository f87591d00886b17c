package codecs

import (
	"fmt"
	"math/rand/v2"
)

// recordish returns n bytes shaped like the records section of a record
// batch: short varint-style headers, keys and JSON values with repeated field
// names and varying numbers. The same n always gives the same bytes (the
// golden files in testdata depend on it).
func recordish(n int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	events := []string{"page_view", "add_to_cart", "checkout", "login", "logout", "search"}
	b := make([]byte, 0, n+256)
	for i := 0; len(b) < n; i++ {
		b = append(b, byte(r.IntN(128)), 0, byte(i*2), byte(r.IntN(16)))
		b = fmt.Appendf(b, "user-%d", r.IntN(5000))
		b = fmt.Appendf(b, `{"user_id":%d,"event":%q,"ts":%d,"amount":%d.%02d,"session":"%08x","tags":["web","eu-west-1"]}`,
			r.IntN(100000), events[r.IntN(len(events))], 1700000000000+int64(i)*37,
			r.IntN(1000), r.IntN(100), r.Uint32())
		b = append(b, 0)
	}
	return b[:n]
}

// incompressible returns n random bytes; the same n gives the same bytes.
func incompressible(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.NewChaCha8([32]byte{7}).Read(b)
	return b
}

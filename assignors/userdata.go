package assignors

import (
	"encoding/binary"

	"github.com/weirmq/weir/sdk"
)

// decodeStickyUserData reads the user data Java's sticky assignors put in a
// classic-protocol subscription, which is how an eager client tells the
// group what it owned (it has revoked everything by the time it joins, so
// its subscription's owned partitions are empty):
//
//   - StickyAssignorUserData v0: previous_assignment, an array of
//     (topic string, partitions array of int32);
//   - v1: the same followed by generation int32;
//   - the cooperative-sticky assignor's: generation int32 alone.
//
// Arrays have an int32 length and strings an int16 length, big-endian, as
// in Kafka's non-flexible schemas. The versions carry no tag; they differ
// in what follows the array. decodeStickyUserData returns ok false for
// anything else, and never panics or allocates more than len(b) suggests:
// the bytes come from a client.
func decodeStickyUserData(b []byte) (owned sdk.TopicPartitions, generation int32, ok bool) {
	if len(b) == 4 {
		return nil, int32(binary.BigEndian.Uint32(b)), true
	}
	r := reader{b: b}
	n := r.int32()
	// Each entry takes at least 6 bytes: a string length and an array length.
	if n < -1 || int(n) > len(r.b)/6 {
		return nil, 0, false
	}
	if n > 0 {
		owned = make(sdk.TopicPartitions, n)
	}
	for range n {
		topic, ok := r.string()
		if !ok {
			return nil, 0, false
		}
		count := r.int32()
		if count < -1 || int(count) > len(r.b)/4 {
			return nil, 0, false
		}
		var parts []int32
		if count > 0 {
			parts = make([]int32, count)
		}
		for i := range parts {
			parts[i] = r.int32()
		}
		owned[topic] = append(owned[topic], parts...)
	}
	switch {
	case r.bad:
		return nil, 0, false
	case len(r.b) == 0:
		return owned, 0, true
	case len(r.b) == 4:
		return owned, r.int32(), true
	}
	return nil, 0, false
}

// reader reads big-endian Kafka primitives. After a read runs past the
// end, bad is set and every read returns zero.
type reader struct {
	b   []byte
	bad bool
}

func (r *reader) int32() int32 {
	if len(r.b) < 4 {
		r.bad, r.b = true, nil
		return 0
	}
	v := int32(binary.BigEndian.Uint32(r.b))
	r.b = r.b[4:]
	return v
}

func (r *reader) string() (string, bool) {
	if len(r.b) < 2 {
		r.bad, r.b = true, nil
		return "", false
	}
	n := int(int16(binary.BigEndian.Uint16(r.b)))
	if n < 0 || len(r.b)-2 < n {
		r.bad, r.b = true, nil
		return "", false
	}
	s := string(r.b[2 : 2+n])
	r.b = r.b[2+n:]
	return s, true
}

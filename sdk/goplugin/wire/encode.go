package wire

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/weirmq/weir/sdk"
)

// The extension point kinds, as Describe reports them and as the host's
// Kinds lists them (the same spelling as plugins/wasm).
const (
	KindPartitioner      = "partitioner"
	KindCompactionFilter = "compaction_filter"
	KindAssignor         = "assignor"
)

// Point is one extension point a guest serves: its kind and the name the
// guest's implementation gives itself.
type Point struct {
	Kind string
	Name string
}

// The append helpers. Each appends to b and returns the extended slice.

func appendUvarint(b []byte, v uint64) []byte { return binary.AppendUvarint(b, v) }
func appendVarint(b []byte, v int64) []byte   { return binary.AppendVarint(b, v) }

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// appendNullable writes nil as 0 and anything else as len+1, then the bytes.
func appendNullable(b, v []byte) []byte {
	if v == nil {
		return append(b, 0)
	}
	b = binary.AppendUvarint(b, uint64(len(v))+1)
	return append(b, v...)
}

func appendHeaders(b []byte, hs []sdk.Header) []byte {
	b = appendUvarint(b, uint64(len(hs)))
	for _, h := range hs {
		b = appendString(b, h.Key)
		b = appendNullable(b, h.Value)
	}
	return b
}

func appendPartitions(b []byte, ps []int32) []byte {
	b = appendUvarint(b, uint64(len(ps)))
	for _, p := range ps {
		b = appendVarint(b, int64(p))
	}
	return b
}

// decoder reads what the append helpers write. The first error sticks:
// later reads return zero values, and err reports it.
type decoder struct {
	b   []byte
	err error

	names map[string]string // interned topic names; see name
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
	}
	d.b = nil
}

func (d *decoder) uvarint(what string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("bad or truncated varint for %s", what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint(what string) int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("bad or truncated varint for %s", what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) int32(what string) int32 {
	v := d.varint(what)
	if v < math.MinInt32 || v > math.MaxInt32 {
		d.fail("%s %d does not fit in 32 bits", what, v)
		return 0
	}
	return int32(v)
}

func (d *decoder) byte(what string) byte {
	if d.err != nil {
		return 0
	}
	if len(d.b) == 0 {
		d.fail("truncated before %s", what)
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

// count reads an element count. Every element takes at least minSize
// bytes, so a count the remaining bytes cannot hold is rejected before the
// caller allocates for it.
func (d *decoder) count(what string, minSize int) int {
	n := d.uvarint(what)
	if d.err == nil && n > uint64(len(d.b)/minSize) {
		d.fail("%s count %d exceeds the %d bytes left", what, n, len(d.b))
		return 0
	}
	return int(n)
}

func (d *decoder) raw(n uint64, what string) []byte {
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.fail("%s of %d bytes exceeds the %d bytes left", what, n, len(d.b))
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) string(what string) string {
	return string(d.raw(d.uvarint(what), what))
}

// name reads a string that repeats across the message (a topic name) and
// returns one shared copy for every occurrence: an assignment of 10
// topics to 1,000 members allocates 10 strings rather than 10,000.
func (d *decoder) name(what string) string {
	raw := d.raw(d.uvarint(what), what)
	if s, ok := d.names[string(raw)]; ok { // no allocation for the lookup
		return s
	}
	if d.names == nil {
		d.names = make(map[string]string)
	}
	s := string(raw)
	d.names[s] = s
	return s
}

// nullable returns nil for a nil value and otherwise a slice of the input.
func (d *decoder) nullable(what string) []byte {
	n := d.uvarint(what)
	if n == 0 || d.err != nil {
		return nil
	}
	v := d.raw(n-1, what)
	if v == nil && d.err == nil {
		return []byte{} // a non-nil empty value
	}
	return v
}

func (d *decoder) headers() []sdk.Header {
	n := d.count("headers", 2)
	if n == 0 {
		return nil
	}
	hs := make([]sdk.Header, n)
	for i := range hs {
		hs[i].Key = d.string("header key")
		hs[i].Value = d.nullable("header value")
	}
	return hs
}

// partitions decodes a partition list into the free end of *backing
// (growing it when full) and returns a non-nil slice of it with its
// capacity clipped, so appending to one list never overwrites the next.
func (d *decoder) partitions(backing *[]int32) []int32 {
	n := d.count("partitions", 1)
	if n == 0 {
		return []int32{} // empty, not nil, whatever backing is
	}
	if n > cap(*backing)-len(*backing) {
		*backing = make([]int32, 0, max(n, 64))
	}
	start := len(*backing)
	for range n {
		*backing = append(*backing, d.int32("partition"))
	}
	return (*backing)[start:len(*backing):len(*backing)]
}

func (d *decoder) done(what string) error {
	if d.err == nil && len(d.b) != 0 {
		d.fail("%d trailing bytes after %s", len(d.b), what)
	}
	return d.err
}

// EncodeDescription appends a Describe reply payload.
func EncodeDescription(b []byte, points []Point) []byte {
	b = appendUvarint(b, uint64(len(points)))
	for _, p := range points {
		b = appendString(b, p.Kind)
		b = appendString(b, p.Name)
	}
	return b
}

// DecodeDescription reads what EncodeDescription writes.
func DecodeDescription(b []byte) ([]Point, error) {
	d := decoder{b: b}
	points := make([]Point, d.count("points", 2))
	for i := range points {
		points[i] = Point{Kind: d.string("kind"), Name: d.string("name")}
	}
	return points, d.done("description")
}

// EncodePartitionRequest appends a Partition request payload.
func EncodePartitionRequest(b []byte, in sdk.PartitionInput) []byte {
	b = appendString(b, in.Topic)
	b = appendVarint(b, int64(in.NumPartitions))
	b = appendUvarint(b, uint64(len(in.Keys)))
	for _, k := range in.Keys {
		b = appendNullable(b, k)
	}
	return b
}

// DecodePartitionRequest reads what EncodePartitionRequest writes. The
// keys alias b.
func DecodePartitionRequest(b []byte) (sdk.PartitionInput, error) {
	d := decoder{b: b}
	in := sdk.PartitionInput{Topic: d.string("topic"), NumPartitions: d.int32("partition count")}
	if n := d.count("keys", 1); n > 0 {
		in.Keys = make([][]byte, n)
		for i := range in.Keys {
			in.Keys[i] = d.nullable("key")
		}
	}
	return in, d.done("partition request")
}

// EncodePartitions appends a Partition reply payload.
func EncodePartitions(b []byte, out []int32) []byte { return appendPartitions(b, out) }

// DecodePartitions reads what EncodePartitions writes into out, which
// must have room for exactly as many partitions as the message holds.
func DecodePartitions(b []byte, out []int32) error {
	d := decoder{b: b}
	n := d.count("partitions", 1)
	if d.err == nil && n != len(out) {
		return fmt.Errorf("%w: %d partitions for %d keys", ErrMalformed, n, len(out))
	}
	for i := range n {
		out[i] = d.int32("partition")
	}
	return d.done("partitions")
}

// EncodeFilterRequest appends a Filter request payload.
func EncodeFilterRequest(b []byte, in sdk.FilterInput) []byte {
	b = appendString(b, in.Topic)
	b = appendVarint(b, int64(in.Partition))
	b = appendVarint(b, in.NowMs)
	b = appendUvarint(b, uint64(len(in.Records)))
	for i := range in.Records {
		r := &in.Records[i]
		b = appendVarint(b, r.Offset)
		b = appendVarint(b, r.TimestampMs)
		b = appendNullable(b, r.Key)
		b = appendNullable(b, r.Value)
		b = appendHeaders(b, r.Headers)
	}
	return b
}

// DecodeFilterRequest reads what EncodeFilterRequest writes. Keys, values
// and header values alias b.
func DecodeFilterRequest(b []byte) (sdk.FilterInput, error) {
	d := decoder{b: b}
	in := sdk.FilterInput{Topic: d.string("topic"), Partition: d.int32("partition"), NowMs: d.varint("now")}
	if n := d.count("records", 5); n > 0 {
		in.Records = make([]sdk.Record, n)
		for i := range in.Records {
			r := &in.Records[i]
			r.Offset = d.varint("offset")
			r.TimestampMs = d.varint("timestamp")
			r.Key = d.nullable("key")
			r.Value = d.nullable("value")
			r.Headers = d.headers()
		}
	}
	return in, d.done("filter request")
}

// EncodeDecisions appends a Filter reply payload.
func EncodeDecisions(b []byte, out []sdk.FilterDecision) []byte {
	b = appendUvarint(b, uint64(len(out)))
	for _, dec := range out {
		b = append(b, byte(dec.Action))
		if dec.Action == sdk.Rewrite {
			b = appendNullable(b, dec.Value)
			b = appendHeaders(b, dec.Headers)
		}
	}
	return b
}

// DecodeDecisions reads what EncodeDecisions writes into out, which must
// have room for exactly as many decisions as the message holds. Rewritten
// values and headers alias b. An unknown action is passed through for the
// caller to judge (plugins/fallback treats it as a failure).
func DecodeDecisions(b []byte, out []sdk.FilterDecision) error {
	d := decoder{b: b}
	n := d.count("decisions", 1)
	if d.err == nil && n != len(out) {
		return fmt.Errorf("%w: %d decisions for %d records", ErrMalformed, n, len(out))
	}
	for i := range n {
		out[i] = sdk.FilterDecision{Action: sdk.FilterAction(d.byte("action"))}
		if out[i].Action == sdk.Rewrite {
			out[i].Value = d.nullable("value")
			out[i].Headers = d.headers()
		}
	}
	return d.done("decisions")
}

// EncodeAssignInput appends an Assign request payload.
func EncodeAssignInput(b []byte, in sdk.AssignInput) []byte {
	b = appendUvarint(b, uint64(len(in.Members)))
	for i := range in.Members {
		m := &in.Members[i]
		b = appendString(b, m.MemberID)
		b = appendString(b, m.InstanceID)
		b = appendString(b, m.Rack)
		b = appendUvarint(b, uint64(len(m.Topics)))
		for _, t := range m.Topics {
			b = appendString(b, t)
		}
		b = appendNullable(b, m.UserData)
		if m.Owned == nil {
			b = append(b, 0)
		} else {
			b = appendUvarint(b, uint64(len(m.Owned))+1)
			for t, ps := range m.Owned {
				b = appendString(b, t)
				b = appendPartitions(b, ps)
			}
		}
		b = appendVarint(b, int64(m.Generation))
	}
	b = appendUvarint(b, uint64(len(in.Topics)))
	for name, t := range in.Topics {
		b = appendString(b, name)
		b = appendVarint(b, int64(t.Partitions))
		if t.PartitionRacks == nil {
			b = append(b, 0)
			continue
		}
		b = appendUvarint(b, uint64(len(t.PartitionRacks))+1)
		for _, racks := range t.PartitionRacks {
			b = appendUvarint(b, uint64(len(racks)))
			for _, r := range racks {
				b = appendString(b, r)
			}
		}
	}
	return b
}

// DecodeAssignInput reads what EncodeAssignInput writes. UserData aliases
// b; everything else is copied.
func DecodeAssignInput(b []byte) (sdk.AssignInput, error) {
	d := decoder{b: b}
	var in sdk.AssignInput
	var backing []int32
	if n := d.count("members", 7); n > 0 {
		in.Members = make([]sdk.GroupMember, n)
	}
	for i := range in.Members {
		m := &in.Members[i]
		m.MemberID = d.string("member id")
		m.InstanceID = d.string("instance id")
		m.Rack = d.string("rack")
		if n := d.count("topics", 1); n > 0 {
			m.Topics = make([]string, n)
			for j := range m.Topics {
				m.Topics[j] = d.name("topic")
			}
		}
		m.UserData = d.nullable("user data")
		if n := d.uvarint("owned topics"); n > 0 {
			n--
			if n > uint64(len(d.b)/2) {
				d.fail("owned topics count %d exceeds the %d bytes left", n, len(d.b))
				break
			}
			m.Owned = make(sdk.TopicPartitions, n)
			for range n {
				t := d.name("owned topic")
				m.Owned[t] = d.partitions(&backing)
			}
		}
		m.Generation = d.int32("generation")
	}
	if n := d.count("topics", 3); n > 0 {
		in.Topics = make(map[string]sdk.TopicMetadata, n)
		for range n {
			name := d.name("topic")
			t := sdk.TopicMetadata{Partitions: d.int32("partition count")}
			if n := d.uvarint("partition racks"); n > 0 {
				n--
				if n > uint64(len(d.b)) {
					d.fail("partition racks count %d exceeds the %d bytes left", n, len(d.b))
					break
				}
				t.PartitionRacks = make([][]string, n)
				for p := range t.PartitionRacks {
					if k := d.count("racks", 1); k > 0 {
						t.PartitionRacks[p] = make([]string, k)
						for r := range t.PartitionRacks[p] {
							t.PartitionRacks[p][r] = d.string("rack")
						}
					}
				}
			}
			in.Topics[name] = t
		}
	}
	return in, d.done("assign input")
}

// EncodeAssignment appends an Assign reply payload.
func EncodeAssignment(b []byte, a sdk.Assignment) []byte {
	b = appendUvarint(b, uint64(len(a)))
	for member, tps := range a {
		b = appendString(b, member)
		b = appendUvarint(b, uint64(len(tps)))
		for t, ps := range tps {
			b = appendString(b, t)
			b = appendPartitions(b, ps)
		}
	}
	return b
}

// DecodeAssignment reads what EncodeAssignment writes. The result shares
// no memory with b; every member has a non-nil TopicPartitions, and each
// partition list has its capacity clipped so that appending to it is safe.
func DecodeAssignment(b []byte) (sdk.Assignment, error) {
	d := decoder{b: b}
	n := d.count("members", 2)
	// Partition numbers take at least a byte each: size the shared
	// backing array from the message once.
	backing := make([]int32, 0, len(b)/2)
	a := make(sdk.Assignment, n)
	for range n {
		member := d.string("member id")
		k := d.count("topics", 2)
		tps := make(sdk.TopicPartitions, k)
		for range k {
			t := d.name("topic")
			tps[t] = d.partitions(&backing)
		}
		if _, dup := a[member]; dup && d.err == nil {
			d.fail("member %q appears twice", member)
		}
		a[member] = tps
	}
	if err := d.done("assignment"); err != nil {
		return nil, err
	}
	return a, nil
}

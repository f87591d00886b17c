package group

import (
	"bytes"
	"encoding/hex"
	"reflect"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// The KIP-848 records are Kafka's: these bytes follow the schemas
// (non-flexible keys; values a version and flexible fields).
func TestConsumerRecordBytes(t *testing.T) {
	for _, c := range []struct {
		name string
		got  []byte
		want string
	}{
		{"metadata key", cgGroupKey(cgMetadataKeyVersion, "g"), "0003" + "0001" + "67"},
		{"member key", cgMemberKey(cgCurrentKeyVersion, "g", "m"), "0008" + "000167" + "00016d"},
		{"metadata value", (&cgMetadataValue{epoch: 5, metadataHash: 0x0102030405060708}).appendTo(nil),
			"0000" + "00000005" + "01" + "00" + "08" + "0102030405060708"},
		{"target metadata value", appendTargetMetadataValue(nil, 7), "0000" + "00000007" + "00"},
		{"target value", appendTargetValue(nil, []topicParts{{id: [16]byte{1}, partitions: []int32{0, 2}}}),
			"0000" + "02" + "01000000000000000000000000000000" + "03" + "00000000" + "00000002" + "00" + "00"},
		{"current value", (&cgCurrentValue{epoch: 3, prevEpoch: 2, state: 1,
			assigned: []topicParts{{id: [16]byte{1}, partitions: []int32{4}, epochs: []int32{3}}}}).appendTo(nil),
			"0000" + "00000003" + "00000002" + "01" +
				"02" + "01000000000000000000000000000000" + "02" + "00000004" + "01" + "00" + "05" + "02" + "00000003" +
				"01" + "00"},
		{"member value", (&cgMemberValue{instanceID: stringPtr("i"), clientID: "c", clientHost: "h", topics: []string{"t"},
			rebalanceTimeoutMs: 1, assignor: stringPtr("range")}).appendTo(nil),
			"0000" + "0269" + "00" + "0263" + "0268" + "02" + "0274" + "00" + "00000001" + "0672616e6765" + "00"},
	} {
		if got := hex.EncodeToString(c.got); got != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.name, got, c.want)
		}
	}
}

func TestConsumerRecordsRoundTrip(t *testing.T) {
	mv := &cgMemberValue{instanceID: stringPtr("i"), rackID: stringPtr("r"), clientID: "c", clientHost: "/h",
		topics: []string{"a", "b"}, regex: stringPtr("x.*"), rebalanceTimeoutMs: 30000, assignor: stringPtr("uniform")}
	if got, err := readCGMember(mv.appendTo(nil)); err != nil || !reflect.DeepEqual(got, mv) {
		t.Fatalf("member: %+v, %v", got, err)
	}
	cv := &cgCurrentValue{epoch: 9, prevEpoch: 8, state: 2,
		assigned: []topicParts{{id: [16]byte{1}, partitions: []int32{1, 2}, epochs: []int32{8, 9}}},
		revoking: []topicParts{{id: [16]byte{2}, partitions: []int32{0}, epochs: []int32{3}}}}
	if got, err := readCGCurrent(cv.appendTo(nil)); err != nil || !reflect.DeepEqual(got, cv) {
		t.Fatalf("current: %+v, %v", got, err)
	}
	gv := &cgMetadataValue{epoch: 4, metadataHash: -5}
	if got, err := readCGMetadata(gv.appendTo(nil)); err != nil || *got != *gv {
		t.Fatalf("metadata: %+v, %v", got, err)
	}
	parts := []topicParts{{id: [16]byte{3}, partitions: []int32{5}}}
	if got, err := readCGTarget(appendTargetValue(nil, parts)); err != nil || !reflect.DeepEqual(got, parts) {
		t.Fatalf("target: %+v, %v", got, err)
	}
	if got, err := readCGTargetMetadata(appendTargetMetadataValue(nil, 6)); err != nil || got != 6 {
		t.Fatalf("target metadata: %d, %v", got, err)
	}
	for _, k := range [][]byte{cgGroupKey(cgMetadataKeyVersion, "grp"), cgMemberKey(cgTargetMemberKeyVersion, "grp", "mem")} {
		if v, g, m, err := readCGKey(k); err != nil || g != "grp" || (v == cgTargetMemberKeyVersion) != (m == "mem") {
			t.Fatalf("key %x: %d %q %q %v", k, v, g, m, err)
		}
	}
	// Truncated values are refused, never read past their end.
	enc := cv.appendTo(nil)
	for i := range enc {
		if _, err := readCGCurrent(enc[:i]); err == nil {
			t.Fatalf("current value truncated to %d bytes read without error", i)
		}
	}
}

// FuzzConsumerRecords: any key and value replay without panicking, and
// the groups they make are consistent.
func FuzzConsumerRecords(f *testing.F) {
	cv := &cgCurrentValue{epoch: 2, prevEpoch: 1, assigned: []topicParts{{id: [16]byte{1}, partitions: []int32{0}, epochs: []int32{1}}}}
	f.Add(cgGroupKey(cgMetadataKeyVersion, "g"), (&cgMetadataValue{epoch: 2}).appendTo(nil), cgMemberKey(cgCurrentKeyVersion, "g", "m"), cv.appendTo(nil))
	f.Add(cgMemberKey(cgMemberMetadataKeyVersion, "g", "m"), (&cgMemberValue{topics: []string{"t"}}).appendTo(nil),
		cgMemberKey(cgTargetMemberKeyVersion, "g", "m"), appendTargetValue(nil, cv.assigned))
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 []byte) {
		st := &replayed{metadata: map[string]*kmsg.GroupMetadataValue{}, offsets: map[string]map[tp]committed{}}
		st.apply(cgGroupKey(cgMetadataKeyVersion, "g"), (&cgMetadataValue{epoch: 1}).appendTo(nil))
		st.apply(cgMemberKey(cgMemberMetadataKeyVersion, "g", "m"), (&cgMemberValue{}).appendTo(nil))
		st.apply(cgMemberKey(cgMemberMetadataKeyVersion, "g", "n"), (&cgMemberValue{}).appendTo(nil))
		st.apply(cgMemberKey(cgCurrentKeyVersion, "g", "n"), cv.appendTo(nil))
		for _, kv := range [][2][]byte{{k1, v1}, {k2, v2}} {
			if len(kv[0]) >= 2 {
				kv[0][0] = 0 // a consumer-group key version (3–8) more often than not
			}
			st.apply(bytes.Clone(kv[0]), bytes.Clone(kv[1]))
		}
		cfg := DefaultConfig()
		for _, g := range st.groups(env{now: time.Unix(0, 0), cfg: &cfg}) {
			if g.consumer == nil {
				continue
			}
			seen := map[partKey]string{}
			for id, m := range g.consumer.members {
				for p := range m.assigned {
					if other, dup := seen[p]; dup {
						t.Fatalf("%v held by %s and %s", p, other, id)
					}
					seen[p] = id
				}
			}
		}
	})
}

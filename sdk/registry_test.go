package sdk

import (
	"strings"
	"testing"
)

type fakeCodec struct {
	id   CompressionID
	name string
}

func (c fakeCodec) ID() CompressionID                             { return c.id }
func (c fakeCodec) Name() string                                  { return c.name }
func (c fakeCodec) Encode(dst, src []byte) ([]byte, error)        { return append(dst, src...), nil }
func (c fakeCodec) Decode(dst, src []byte, _ int) ([]byte, error) { return append(dst, src...), nil }

func TestRegisterCodecRejectsNilEmptyAndDuplicates(t *testing.T) {
	r := NewRegistry()
	if err := r.RegisterCodec(fakeCodec{CompressionGzip, "gzip"}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		c    Codec
		want string
	}{
		{nil, "nil codec"},
		{fakeCodec{CompressionLZ4, ""}, "empty name"},
		{fakeCodec{CompressionLZ4, "gzip"}, `"gzip": name already registered`},
		{fakeCodec{CompressionGzip, "gzip2"}, `id 1 already registered by "gzip"`},
	} {
		err := r.RegisterCodec(tc.c)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("RegisterCodec(%v) = %v, want an error containing %q", tc.c, err, tc.want)
		}
	}
	if c, ok := r.Codec(CompressionGzip); !ok || c.Name() != "gzip" {
		t.Fatal("registered codec not found by id")
	}
	if _, ok := r.CodecByName("gzip2"); ok {
		t.Fatal("a rejected codec was registered")
	}
}

func TestCompressionIDString(t *testing.T) {
	for id, want := range map[CompressionID]string{0: "none", 1: "gzip", 2: "snappy", 3: "lz4", 4: "zstd", 7: "compression(7)", -1: "compression(-1)"} {
		if got := id.String(); got != want {
			t.Errorf("%d.String() = %q, want %q", id, got, want)
		}
	}
}

package codecs

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/weirmq/weir/sdk"
)

func TestAllIDsAndNames(t *testing.T) {
	all := All()
	want := []sdk.CompressionID{sdk.CompressionNone, sdk.CompressionGzip, sdk.CompressionSnappy, sdk.CompressionLZ4, sdk.CompressionZstd}
	if len(all) != len(want) {
		t.Fatalf("All() returned %d codecs, want %d", len(all), len(want))
	}
	for i, c := range all {
		if c.ID() != want[i] {
			t.Errorf("All()[%d].ID() = %v, want %v", i, c.ID(), want[i])
		}
		if c.Name() != want[i].String() {
			t.Errorf("codec %v: Name() = %q, want %q", c.ID(), c.Name(), want[i].String())
		}
	}
}

func TestRegister(t *testing.T) {
	r := sdk.NewRegistry()
	if err := Register(r); err != nil {
		t.Fatalf("Register: %v", err)
	}
	for _, id := range []sdk.CompressionID{0, 1, 2, 3, 4} {
		c, ok := r.Codec(id)
		if !ok {
			t.Fatalf("Codec(%v) not registered", id)
		}
		if byName, ok := r.CodecByName(id.String()); !ok || byName != c {
			t.Errorf("CodecByName(%q) = %v, %v; want the codec registered for id %d", id.String(), byName, ok, id)
		}
	}

	err := Register(r)
	if err == nil {
		t.Fatal("second Register on the same registry succeeded")
	}
	if !strings.Contains(err.Error(), "already registered") {
		t.Errorf("second Register: error %q does not say what is already registered", err)
	}

	if err := Register(nil); err == nil {
		t.Error("Register(nil) succeeded")
	}
}

// A registry that already has a codec under one built-in's name gets none of
// the built-ins.
func TestRegisterChangesNothingOnConflict(t *testing.T) {
	r := sdk.NewRegistry()
	if err := r.RegisterCodec(renamed{Codec: NewNone(), id: 7, name: "zstd"}); err != nil {
		t.Fatal(err)
	}
	if err := Register(r); err == nil {
		t.Fatal("Register succeeded despite a name clash")
	}
	if _, ok := r.Codec(sdk.CompressionNone); ok {
		t.Error("Register registered codecs before failing")
	}
}

type renamed struct {
	sdk.Codec
	id   sdk.CompressionID
	name string
}

func (r renamed) ID() sdk.CompressionID { return r.id }
func (r renamed) Name() string          { return r.name }

func roundTripInputs() []struct {
	name string
	data []byte
} {
	return []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"one byte", []byte{42}},
		{"small", []byte("hello, weir: hello, weir: hello, weir")},
		{"recordish 1 MiB", recordish(1 << 20)},
		{"incompressible 300 KiB", incompressible(300 << 10)},
		{"zeros 64 KiB + 1", make([]byte, 64<<10+1)},
		{"recordish 32 KiB", recordish(32 << 10)},
		{"recordish 32 KiB + 1", recordish(32<<10 + 1)},
		{"recordish 64 KiB", recordish(64 << 10)},
	}
}

func TestRoundTrip(t *testing.T) {
	for _, c := range All() {
		for _, in := range roundTripInputs() {
			t.Run(c.Name()+"/"+in.name, func(t *testing.T) {
				enc, err := c.Encode(nil, in.data)
				if err != nil {
					t.Fatalf("Encode: %v", err)
				}
				dec, err := c.Decode(nil, enc, len(in.data))
				if err != nil {
					t.Fatalf("Decode: %v", err)
				}
				if !bytes.Equal(dec, in.data) {
					t.Fatalf("round trip changed the data: got %d bytes, want %d", len(dec), len(in.data))
				}
			})
		}
	}
}

func TestAppendKeepsPrefix(t *testing.T) {
	prefix := []byte("prefix!")
	data := recordish(100 << 10)
	for _, c := range All() {
		for _, spare := range []int{0, 16, 1 << 20} {
			t.Run(fmt.Sprintf("%s/spare=%d", c.Name(), spare), func(t *testing.T) {
				dst := append(make([]byte, 0, len(prefix)+spare), prefix...)
				enc, err := c.Encode(dst, data)
				if err != nil {
					t.Fatalf("Encode: %v", err)
				}
				if !bytes.Equal(enc[:len(prefix)], prefix) {
					t.Fatalf("Encode changed the prefix to %q", enc[:len(prefix)])
				}
				want, err := c.Encode(nil, data)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(enc[len(prefix):], want) {
					t.Fatal("Encode after a prefix differs from Encode into nil")
				}

				dst = append(make([]byte, 0, len(prefix)+spare), prefix...)
				dec, err := c.Decode(dst, want, len(data))
				if err != nil {
					t.Fatalf("Decode: %v", err)
				}
				if !bytes.Equal(dec[:len(prefix)], prefix) {
					t.Fatalf("Decode changed the prefix to %q", dec[:len(prefix)])
				}
				if !bytes.Equal(dec[len(prefix):], data) {
					t.Fatal("Decode after a prefix returned the wrong data")
				}
			})
		}
	}
}

func TestMaxSize(t *testing.T) {
	inputs := []struct {
		name string
		data []byte
	}{
		{"small", []byte("the quick brown fox jumps over the lazy dog")},
		{"recordish 200 KiB", recordish(200 << 10)},
		{"zeros 1 MiB", make([]byte, 1<<20)},
		{"incompressible 100 KiB", incompressible(100 << 10)},
	}
	prefix := []byte("keep")
	for _, c := range All() {
		for _, in := range inputs {
			t.Run(c.Name()+"/"+in.name, func(t *testing.T) {
				enc, err := c.Encode(nil, in.data)
				if err != nil {
					t.Fatal(err)
				}
				n := len(in.data)

				dst := append([]byte(nil), prefix...)
				if out, err := c.Decode(dst, enc, n); err != nil {
					t.Errorf("Decode with maxSize exactly %d: %v", n, err)
				} else if !bytes.Equal(out[len(prefix):], in.data) {
					t.Error("Decode with maxSize exactly the size returned the wrong data")
				}

				for _, limit := range []int{n - 1, n / 2, 1, 0, -1, math.MinInt} {
					if limit >= n {
						continue
					}
					out, err := c.Decode(dst, enc, limit)
					if !errors.Is(err, sdk.ErrDecodedTooLarge) {
						t.Errorf("Decode with maxSize %d for %d bytes: err = %v, want ErrDecodedTooLarge", limit, n, err)
						continue
					}
					if !strings.Contains(err.Error(), c.Name()) {
						t.Errorf("error %q does not name the codec", err)
					}
					if len(out) != len(prefix) || !bytes.Equal(out, prefix) {
						t.Errorf("Decode failed but returned %d bytes, want dst unchanged", len(out))
					}
				}

				if out, err := c.Decode(nil, enc, math.MaxInt); err != nil || !bytes.Equal(out, in.data) {
					t.Errorf("Decode with maxSize MaxInt: err = %v, %d bytes", err, len(out))
				}
			})
		}
	}
}

// Truncated input fails as corrupt, except where the cut leaves a valid
// shorter stream (snappy's chunk boundaries, and the empty input snappy and
// zstd accept); then the output is a prefix of the original.
func TestTruncated(t *testing.T) {
	data := recordish(100 << 10)
	for _, c := range All() {
		if c.ID() == sdk.CompressionNone {
			continue
		}
		t.Run(c.Name(), func(t *testing.T) {
			enc, err := c.Encode(nil, data)
			if err != nil {
				t.Fatal(err)
			}
			step := max(1, len(enc)/300)
			for n := 0; n < len(enc); n += step {
				out, err := c.Decode(nil, enc[:n], len(data))
				if err == nil {
					validCut := n == 0 && (c.ID() == sdk.CompressionSnappy || c.ID() == sdk.CompressionZstd)
					if c.ID() == sdk.CompressionSnappy && len(out)%xerialChunk == 0 {
						validCut = true
					}
					if !validCut || !bytes.HasPrefix(data, out) {
						t.Fatalf("Decode of the first %d of %d bytes succeeded with %d bytes", n, len(enc), len(out))
					}
					continue
				}
				checkCorrupt(t, c, err)
			}
		})
	}
}

func TestGarbage(t *testing.T) {
	inputs := [][]byte{
		[]byte("this is not compressed data at all, not even slightly"),
		incompressible(5000),
		{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff},
		{1},
	}
	for _, c := range All() {
		if c.ID() == sdk.CompressionNone {
			continue
		}
		for i, in := range inputs {
			out, err := c.Decode([]byte("x"), in, 1<<20)
			if err == nil {
				t.Errorf("%s: Decode of garbage %d succeeded with %d bytes", c.Name(), i, len(out))
				continue
			}
			checkCorrupt(t, c, err)
			if string(out) != "x" {
				t.Errorf("%s: failed Decode returned %q, want dst unchanged", c.Name(), out)
			}
		}
	}
}

// Flipping bytes of a valid encoding must never panic or break the size
// limit; formats with checksums must notice.
func TestBitFlips(t *testing.T) {
	data := recordish(20 << 10)
	for _, c := range All() {
		enc, err := c.Encode(nil, data)
		if err != nil {
			t.Fatal(err)
		}
		for i := range enc {
			bad := bytes.Clone(enc)
			bad[i] ^= 0x5a
			out, err := c.Decode(nil, bad, len(data)+100)
			if err != nil {
				if !errors.Is(err, ErrCorrupt) && !errors.Is(err, sdk.ErrDecodedTooLarge) {
					t.Fatalf("%s: flip at %d: error %v wraps neither ErrCorrupt nor ErrDecodedTooLarge", c.Name(), i, err)
				}
				continue
			}
			if len(out) > len(data)+100 {
				t.Fatalf("%s: flip at %d: %d bytes out, over the limit", c.Name(), i, len(out))
			}
			// gzip checks a CRC over the data; a flip that still decodes
			// may only touch header fields that carry no data.
			if c.ID() == sdk.CompressionGzip && !bytes.Equal(out, data) {
				t.Fatalf("gzip: flip at %d decoded to different data without an error", i)
			}
		}
	}
}

// Decode never allocates much more than maxSize, whatever the input claims.
func TestBombAllocations(t *testing.T) {
	if testing.Short() {
		t.Skip("builds 32 MiB inputs")
	}
	const maxSize = 1 << 20
	zeros := make([]byte, 32<<20)
	for _, c := range All() {
		if c.ID() == sdk.CompressionNone {
			continue
		}
		t.Run(c.Name(), func(t *testing.T) {
			bomb, err := c.Encode(nil, zeros)
			if err != nil {
				t.Fatal(err)
			}
			if c.ID() == sdk.CompressionZstd {
				bomb = zstdStreamEncode(t, zeros)
				if hasContentSize(t, bomb) {
					t.Fatal("the streaming encoder declared the content size")
				}
			}
			// Warm the pools so that only the output is counted.
			if _, err := c.Decode(nil, bomb, maxSize); !errors.Is(err, sdk.ErrDecodedTooLarge) {
				t.Fatalf("Decode of a %d-byte bomb: err = %v, want ErrDecodedTooLarge", len(bomb), err)
			}
			allocated := allocatedBytes(func() {
				_, err = c.Decode(nil, bomb, maxSize)
			})
			if !errors.Is(err, sdk.ErrDecodedTooLarge) {
				t.Fatalf("err = %v, want ErrDecodedTooLarge", err)
			}
			t.Logf("%d-byte bomb: %d bytes allocated for maxSize %d", len(bomb), allocated, maxSize)
			if allocated > 3*maxSize {
				t.Errorf("Decode allocated %d bytes for maxSize %d", allocated, maxSize)
			}
		})
	}
}

func allocatedBytes(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

func TestConcurrentUse(t *testing.T) {
	const goroutines, rounds = 8, 20
	inputs := make([][]byte, goroutines)
	for i := range inputs {
		inputs[i] = recordish(1000 + i*7919)
	}
	for _, c := range All() {
		t.Run(c.Name(), func(t *testing.T) {
			var wg sync.WaitGroup
			errs := make(chan error, goroutines)
			for g := range goroutines {
				wg.Go(func() {
					var enc, dec []byte
					for range rounds {
						var err error
						if enc, err = c.Encode(enc[:0], inputs[g]); err != nil {
							errs <- err
							return
						}
						if dec, err = c.Decode(dec[:0], enc, len(inputs[g])); err != nil {
							errs <- err
							return
						}
						if !bytes.Equal(dec, inputs[g]) {
							errs <- fmt.Errorf("goroutine %d: round trip changed the data", g)
							return
						}
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
		})
	}
}

// Steady-state Encode and Decode into a buffer with room allocate (almost)
// nothing.
func TestSteadyStateAllocations(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items at random under the race detector")
	}
	data := recordish(16 << 10)
	for _, c := range All() {
		t.Run(c.Name(), func(t *testing.T) {
			enc, err := c.Encode(nil, data)
			if err != nil {
				t.Fatal(err)
			}
			encBuf := make([]byte, 0, 2*len(data)+1024)
			decBuf := make([]byte, 0, len(data))
			encAllocs := testing.AllocsPerRun(50, func() {
				encBuf, _ = c.Encode(encBuf[:0], data)
			})
			decAllocs := testing.AllocsPerRun(50, func() {
				decBuf, _ = c.Decode(decBuf[:0], enc, len(data))
			})
			t.Logf("allocations per call: Encode %.1f, Decode %.1f", encAllocs, decAllocs)
			if encAllocs > 0 || decAllocs > 0 {
				t.Errorf("allocations per call: Encode %.1f, Decode %.1f; want 0", encAllocs, decAllocs)
			}
		})
	}
}

func checkCorrupt(t *testing.T, c sdk.Codec, err error) {
	t.Helper()
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("%s: error %q does not wrap ErrCorrupt", c.Name(), err)
	}
	if !strings.Contains(err.Error(), c.Name()) {
		t.Fatalf("error %q does not name the codec %q", err, c.Name())
	}
}

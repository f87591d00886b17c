package codecs

import "testing"

func TestXXH32(t *testing.T) {
	// Values from the xxHash reference implementation (xxhsum -H32).
	tests := []struct {
		in   string
		want uint32
	}{
		{"", 0x02cc5d05},
		{"a", 0x550d7456},
		{"abc", 0x32d153ff},
		{"Nobody inspects the spammish repetition", 0xe2293b2f},
	}
	for _, tt := range tests {
		if got := xxh32([]byte(tt.in)); got != tt.want {
			t.Errorf("xxh32(%q) = %#08x, want %#08x", tt.in, got, tt.want)
		}
	}
}

package codecs_test

import (
	"fmt"

	"github.com/weirmq/weir/codecs"
	"github.com/weirmq/weir/sdk"
)

func ExampleRegister() {
	reg := sdk.NewRegistry()
	if err := codecs.Register(reg); err != nil {
		fmt.Println(err)
		return
	}

	// The engine finds codecs through the registry alone.
	zstd, _ := reg.CodecByName("zstd")
	records := []byte("records records records records records")
	compressed, err := zstd.Encode(nil, records)
	if err != nil {
		fmt.Println(err)
		return
	}
	codec, _ := reg.Codec(sdk.CompressionZstd)
	decoded, err := codec.Decode(nil, compressed, 1<<20)
	fmt.Println(string(decoded), err)
	// Output: records records records records records <nil>
}

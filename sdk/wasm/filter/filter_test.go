package filter

import (
	"errors"
	"strings"
	"testing"

	"github.com/weirmq/weir/sdk"
)

func init() {
	Register(func(in sdk.FilterInput, out []sdk.FilterDecision) error {
		if in.Topic == "bad-action" {
			out[0].Action = 9
			return nil
		}
		if in.Topic == "error" {
			return errors.New(strings.Repeat("é", 1000)) // 2,000 bytes: truncated
		}
		for i, r := range in.Records {
			switch {
			case r.Value == nil:
				out[i].Action = sdk.Drop
			case r.TimestampMs < in.NowMs:
				// Rewrite to the key, with the record's own headers plus
				// one: Value and Headers point into the input.
				out[i] = sdk.FilterDecision{Action: sdk.Rewrite, Value: r.Key,
					Headers: append(r.Headers[:len(r.Headers):len(r.Headers)], sdk.Header{Key: "p", Value: []byte{byte(in.Partition)}})}
			}
		}
		return nil
	})
}

func TestHookRoundTrip(t *testing.T) {
	in := sdk.FilterInput{Topic: "t", Partition: 4, NowMs: 100, Records: []sdk.Record{
		{Offset: 10, TimestampMs: 100, Key: []byte("a"), Value: []byte("keep")},
		{Offset: 11, TimestampMs: 100, Key: []byte("b"), Value: nil},
		{Offset: 15, TimestampMs: 50, Key: []byte("c"), Value: []byte("old"), Headers: []sdk.Header{{Key: "h", Value: nil}}},
	}}
	d, err := CallForTesting(in)
	if err != nil {
		t.Fatal(err)
	}
	if d[0].Action != sdk.Keep || d[1].Action != sdk.Drop || d[2].Action != sdk.Rewrite {
		t.Fatalf("actions %v %v %v", d[0].Action, d[1].Action, d[2].Action)
	}
	if string(d[2].Value) != "c" || len(d[2].Headers) != 2 || d[2].Headers[0].Key != "h" || d[2].Headers[0].Value != nil ||
		d[2].Headers[1].Key != "p" || string(d[2].Headers[1].Value) != "\x04" {
		t.Fatalf("rewrite %+v", d[2])
	}
}

func TestHookErrors(t *testing.T) {
	one := []sdk.Record{{Offset: 1, Value: []byte("v")}}
	if _, err := CallForTesting(sdk.FilterInput{Topic: "bad-action", Records: one}); err == nil || !strings.Contains(err.Error(), "unknown action 9") {
		t.Fatalf("bad action: %v", err)
	}
	_, err := CallForTesting(sdk.FilterInput{Topic: "error", Records: one})
	if err == nil || len(err.Error()) > 1024 || !strings.HasPrefix(err.Error(), "éé") || strings.ContainsRune(err.Error(), '\uFFFD') {
		t.Fatalf("long message not cut at a character boundary within 1,024 bytes: %d bytes", len(err.Error()))
	}
}

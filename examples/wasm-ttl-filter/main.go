// Command wasm-ttl-filter is a Weir compaction filter, built as a WASM
// module: when the log cleaner compacts a topic, it drops the records
// whose time to live has passed.
//
// A record's deadline is its "ttl" header (the header's name is
// configurable): a decimal number of milliseconds since the Unix epoch.
// The cleaner passes its clock (FilterInput.NowMs); a record whose
// deadline is at or before it is dropped from the cleaned log, as if
// compaction had replaced it. Records without the header, or with a
// header that is not a number, are kept (a bad header is logged once per
// chunk): a filter that cannot decide must not delete.
//
// Build it with `weir plugin build . -o ttl.wasm`; see README.md.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/weirmq/weir/sdk"
	"github.com/weirmq/weir/sdk/wasm"
	"github.com/weirmq/weir/sdk/wasm/filter"
)

// header names the header holding a record's deadline.
var header = "ttl"

func init() {
	wasm.Configure(configure)
	filter.Register(expire)
}

// configure reads [plugins.config]: an optional header = "name".
func configure(raw []byte) error {
	var c struct {
		Header *string `json:"header"`
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return fmt.Errorf("ttl filter config: %v (the only key is header = \"ttl\")", err)
	}
	if c.Header != nil {
		if *c.Header == "" {
			return fmt.Errorf("ttl filter config: header must name a header")
		}
		header = *c.Header
	}
	return nil
}

// expire is the filter: one call per chunk of records that survived the
// cleaner's key dedupe.
func expire(in sdk.FilterInput, out []sdk.FilterDecision) error {
	bad := 0
	for i, rec := range in.Records {
		deadline, ok, err := deadlineOf(rec)
		switch {
		case err != nil:
			if bad == 0 {
				wasm.Logf(wasm.LevelWarn, "%s-%d offset %d: %v; kept", in.Topic, in.Partition, rec.Offset, err)
			}
			bad++
		case ok && deadline <= in.NowMs:
			out[i].Action = sdk.Drop
		}
	}
	if bad > 1 {
		wasm.Logf(wasm.LevelWarn, "%s-%d: %d records with a bad %s header kept", in.Topic, in.Partition, bad, header)
	}
	return nil
}

// deadlineOf returns rec's deadline, whether it has one, and an error for
// a header that is not a number.
func deadlineOf(rec sdk.Record) (int64, bool, error) {
	for _, h := range rec.Headers {
		if h.Key != header {
			continue
		}
		d, err := strconv.ParseInt(string(h.Value), 10, 64)
		if err != nil {
			return 0, false, fmt.Errorf("%s header %q is not milliseconds since the epoch", header, h.Value)
		}
		return d, true, nil
	}
	return 0, false, nil
}

func main() {}

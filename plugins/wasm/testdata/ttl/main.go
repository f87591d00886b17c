// Command ttl is a WASM module with two hooks, written with the sdk/wasm
// helpers:
//
//   - a compaction filter that drops records whose TTL header (named by
//     the "header" config, "ttl" by default; a decimal deadline in Unix
//     milliseconds) is before the cleaner's clock, and rewrites records
//     carrying a "redact" header to the value "REDACTED" without that
//     header;
//   - an assignor that deals each topic's partitions round-robin over the
//     members subscribed to it, in member-id order.
package main

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"

	"github.com/weirmq/weir/sdk"
	"github.com/weirmq/weir/sdk/wasm"
	"github.com/weirmq/weir/sdk/wasm/assignor"
	"github.com/weirmq/weir/sdk/wasm/filter"
)

var header = "ttl"

func init() {
	wasm.Configure(func(config []byte) error {
		var c struct {
			Header string `json:"header"`
		}
		if err := json.Unmarshal(config, &c); err != nil {
			return fmt.Errorf("bad config: %v", err)
		}
		if c.Header == "" {
			return fmt.Errorf(`config "header" must name a header`)
		}
		header = c.Header
		wasm.Logf(wasm.LevelInfo, "ttl filter configured with header %q", header)
		return nil
	})
	filter.Register(func(in sdk.FilterInput, out []sdk.FilterDecision) error {
		for i, rec := range in.Records {
			for _, h := range rec.Headers {
				switch h.Key {
				case header:
					deadline, err := strconv.ParseInt(string(h.Value), 10, 64)
					if err != nil {
						return fmt.Errorf("record at offset %d: bad %s header %q", rec.Offset, header, h.Value)
					}
					if deadline < in.NowMs {
						out[i].Action = sdk.Drop
					}
				case "redact":
					if out[i].Action == sdk.Keep {
						out[i] = sdk.FilterDecision{Action: sdk.Rewrite, Value: []byte("REDACTED"),
							Headers: slices.DeleteFunc(slices.Clone(rec.Headers), func(h sdk.Header) bool { return h.Key == "redact" })}
					}
				}
			}
		}
		return nil
	})
	assignor.Register(func(in sdk.AssignInput) (sdk.Assignment, error) {
		a := make(sdk.Assignment, len(in.Members))
		members := slices.Clone(in.Members)
		slices.SortFunc(members, func(x, y sdk.GroupMember) int {
			if x.MemberID < y.MemberID {
				return -1
			}
			if x.MemberID > y.MemberID {
				return 1
			}
			return 0
		})
		for _, m := range members {
			a[m.MemberID] = sdk.TopicPartitions{}
		}
		topics := make([]string, 0, len(in.Topics))
		for t := range in.Topics {
			topics = append(topics, t)
		}
		slices.Sort(topics)
		for _, t := range topics {
			var subs []string
			for _, m := range members {
				if slices.Contains(m.Topics, t) {
					subs = append(subs, m.MemberID)
				}
			}
			if len(subs) == 0 {
				continue
			}
			for p := range in.Topics[t].Partitions {
				m := subs[int(p)%len(subs)]
				a[m][t] = append(a[m][t], p)
			}
		}
		return a, nil
	})
}

func main() {}

package config

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse feeds arbitrary bytes to Parse. It must never panic; what it
// accepts must pass Validate and resolve; what it rejects must come as an
// ErrorList of classified problems.
func FuzzParse(f *testing.F) {
	full, err := os.ReadFile(filepath.Join("testdata", "full.toml"))
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{
		string(full),
		"",
		"node_id = 3\n[listeners]\nkafka = \"127.0.0.1:0\"\n",
		"[broker]\nnum.partitions = 0\n\"num.partitions\" = 2\n",
		"[topic_defaults]\n\"cleanup.policy\" = [\"compact\", 1]\n\"segment.bytes\" = 1099511627776\n",
		"[cluster]\nvoters = [\"1@a:1\", \"1@a:1\"]\n",
		"plugins = [{ name = \"p\", kind = \"codec\", wasm = \"a\", command = \"b\", config = { x = [1, [2]] } }]\n",
		"[[plugins]]\n[plugins.config]\na.b.c = 1979-05-27T07:32:00Z\n",
		"a = [[[[[]]]]]\nb = { c = { d = {} } }\n",
		"[topic_defaults]\n\"max.compaction.lag.ms\" = 1\n\"min.compaction.lag.ms\" = 2\n",
		"[[bridge.nats]]\nsubject = \"a.*\"\ntopic = \"t.{2}\"\nkey = \"json:a.b\"\n[[bridge.nats]]\nstream = \"S\"\ndurable = \"d\"\ntopic = \"u\"\ndedupe_window = 0\n",
		"bridge = { nats = [{ subject = \"a\", topic = \"{1}\", batch_size = 0 }, 1] }\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data, "fuzz.toml")
		if err != nil {
			if c != nil {
				t.Fatal("Config and error both returned")
			}
			var list ErrorList
			if !errors.As(err, &list) || len(list) == 0 {
				t.Fatalf("error %T %v is not a non-empty ErrorList", err, err)
			}
			for _, e := range list {
				if e.Reason == "" || e.Err == nil {
					t.Fatalf("unclassified problem %+v", e)
				}
			}
			_ = err.Error()
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("Parse accepted what Validate rejects: %v", err)
		}
		if _, err := c.ResolveBroker(); err != nil {
			t.Fatalf("ResolveBroker: %v", err)
		}
		if _, err := c.ResolveTopic(nil); err != nil {
			t.Fatalf("ResolveTopic: %v", err)
		}
	})
}

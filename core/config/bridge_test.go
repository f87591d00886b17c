package config

import (
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestBridgeRoutesFromFullFile(t *testing.T) {
	c, err := Load(filepath.Join("testdata", "full.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Bridge.NATS) != 2 {
		t.Fatalf("%d routes, want 2", len(c.Bridge.NATS))
	}
	want := []NATSRoute{{
		Name: "orders", URL: "nats://10.0.0.5:4222,nats://10.0.0.6:4222", Subject: "orders.>", Queue: "weir",
		Topic: "orders.{2}", Key: "token:3", User: "bridge", Password: "secret",
		BatchSize: 1000, LingerMs: 2, PendingLimit: 100000,
		MaxAckPending: DefaultNATSMaxAckPending, AckWaitMs: DefaultNATSAckWaitMs, DedupeWindow: DefaultNATSDedupeWindow,
	}, {
		Name: "events", URL: "tls://10.0.0.5:4222", Stream: "EVENTS", Durable: "weir", Topic: "events",
		Key: "header:Nats-Msg-Id", DeadLetterTopic: "events-poison", Credentials: "/etc/weir/nats.creds",
		TLSCA: "/etc/weir/nats-ca.pem", MaxAckPending: 20000, AckWaitMs: 60000, DedupeWindow: 50000,
		BatchSize: DefaultNATSBatchSize, LingerMs: DefaultNATSLingerMs, PendingLimit: DefaultNATSPendingLimit,
	}}
	for i := range want {
		want[i].defaulted = true // filled by the decoder; Open leaves them
	}
	if !reflect.DeepEqual(c.Bridge.NATS, want) {
		t.Errorf("routes =\n%+v\nwant\n%+v", c.Bridge.NATS, want)
	}
	if got := c.Bridge.NATS[0].DeadLetter(); got != "orders.dlq" {
		t.Errorf("templated route's dead-letter topic = %q, want orders.dlq (named after the route)", got)
	}
	if got := c.Bridge.NATS[1].DeadLetter(); got != "events-poison" {
		t.Errorf("dead-letter topic = %q", got)
	}
}

func TestBridgeRouteDefaults(t *testing.T) {
	c, err := Parse([]byte("[[bridge.nats]]\nsubject = \"a.b\"\ntopic = \"t\"\n\n[[bridge.nats]]\nstream = \"S\"\ndurable = \"d\"\ntopic = \"u\"\nmax_ack_pending = 50000\nlinger_ms = 0\n"), "weir.toml")
	if err != nil {
		t.Fatal(err)
	}
	r := c.Bridge.NATS[0]
	if r.Name != "nats-1" || r.URL != DefaultNATSURL || r.BatchSize != DefaultNATSBatchSize || r.LingerMs != DefaultNATSLingerMs ||
		r.DeadLetter() != "t.dlq" || r.IsJetStream() {
		t.Errorf("route 1 = %+v", r)
	}
	r = c.Bridge.NATS[1]
	if r.Name != "nats-2" || !r.IsJetStream() || r.MaxAckPending != 50000 || r.DedupeWindow != 50000 || r.LingerMs != 0 {
		t.Errorf("route 2 = %+v (dedupe window must default to at least max_ack_pending; an explicit linger_ms = 0 stays)", r)
	}
	// No [bridge] leaves the configuration as the default.
	c, err = Parse([]byte("node_id = 1\n"), "")
	if err != nil {
		t.Fatal(err)
	}
	if c.Bridge.NATS != nil {
		t.Errorf("routes = %v, want none", c.Bridge.NATS)
	}
}

// TestBridgeRouteErrors checks that every bad route stops the
// configuration with a message naming the file, line, route and key.
func TestBridgeRouteErrors(t *testing.T) {
	const head = "node_id = 1\n\n[[bridge.nats]]\nsubject = \"orders.>\"\ntopic = \"orders\"\n\n[[bridge.nats]]\n" // route #2 starts on line 7
	for _, tc := range []struct {
		name, body string
		want       string // the whole message
		class      error
	}{
		{"bad key spec", "subject = \"a.b\"\ntopic = \"t\"\nkey = \"tokn:2\"\n",
			`weir.toml:10: [[bridge.nats]] #2 key = "tokn:2": unknown key source "tokn"; expected "", "subject", "token:N", "header:NAME" or "json:FIELD.PATH"`, ErrInvalidValue},
		{"token zero", "subject = \"a.b\"\ntopic = \"t\"\nkey = \"token:0\"\n",
			`weir.toml:10: [[bridge.nats]] #2 key = "token:0": token "0" is not a subject token number from 1 to 255 (tokens count from 1)`, ErrInvalidValue},
		{"token past subject", "subject = \"a.*\"\ntopic = \"t\"\nkey = \"token:3\"\n",
			`weir.toml:10: [[bridge.nats]] #2 key = "token:3": subject token 3 does not exist: every message matches "a.*", which has 2 tokens`, ErrInvalidValue},
		{"empty json path", "subject = \"a\"\ntopic = \"t\"\nkey = \"json:user..id\"\n",
			`weir.toml:10: [[bridge.nats]] #2 key = "json:user..id": JSON path "user..id" has an empty field; write fields separated by dots, e.g. json:user.id`, ErrInvalidValue},
		{"unknown key", "subject = \"a\"\ntopic = \"t\"\nsubjcet = \"b\"\n",
			`weir.toml:10: [[bridge.nats]] #2 subjcet = "b": unknown [[bridge.nats]] key (did you mean "subject"?)`, ErrUnknownConfig},
		{"wrong type", "subject = \"a\"\ntopic = \"t\"\nbatch_size = \"10\"\n",
			`weir.toml:10: [[bridge.nats]] #2 batch_size = "10": expected an int (32-bit integer), got a string (write it without quotes)`, ErrWrongType},
		{"both sources", "subject = \"a\"\nstream = \"S\"\ndurable = \"d\"\ntopic = \"t\"\n",
			`weir.toml:9: [[bridge.nats]] #2 stream = "S": a route reads either a core NATS subject or a JetStream stream: set subject or stream, not both`, ErrInvalidValue},
		{"no source", "topic = \"t\"\n",
			`weir.toml:7: [[bridge.nats]] #2: needs subject = "..." (core NATS) or stream = "..." with durable = "..." (JetStream)`, ErrInvalidValue},
		{"stream without durable", "stream = \"S\"\ntopic = \"t\"\n",
			`weir.toml:7: [[bridge.nats]] #2: a stream route needs durable = "..." naming its pull consumer`, ErrInvalidValue},
		{"no topic", "subject = \"a\"\n",
			`weir.toml:7: [[bridge.nats]] #2: needs topic = "..." naming the destination topic`, ErrInvalidValue},
		{"bad subject", "subject = \"a..b\"\ntopic = \"t\"\n",
			`weir.toml:8: [[bridge.nats]] #2 subject = "a..b": not a NATS subject: has an empty token (two dots, or a dot at an end)`, ErrInvalidValue},
		{"wildcard not last", "subject = \"a.>.b\"\ntopic = \"t\"\n",
			`weir.toml:8: [[bridge.nats]] #2 subject = "a.>.b": not a NATS subject: '>' may only be the last token`, ErrInvalidValue},
		{"unclosed template", "subject = \"a.b\"\ntopic = \"t.{2\"\n",
			`weir.toml:9: [[bridge.nats]] #2 topic = "t.{2": gives '{' is not closed; write subject tokens as {N}, e.g. orders.{2}`, ErrInvalidValue},
		{"template token past subject", "subject = \"a.b\"\ntopic = \"t.{3}\"\n",
			`weir.toml:9: [[bridge.nats]] #2 topic = "t.{3}": subject token 3 does not exist: every message matches "a.b", which has 2 tokens`, ErrInvalidValue},
		{"template bad char", "subject = \"a.b\"\ntopic = \"t/{2}\"\n",
			`weir.toml:9: [[bridge.nats]] #2 topic = "t/{2}": gives contains "/"; topic names hold only ASCII letters, digits, '.', '_' and '-' besides {N} tokens`, ErrInvalidValue},
		{"bad static topic", "subject = \"a\"\ntopic = \"a b\"\n",
			`weir.toml:9: [[bridge.nats]] #2 topic = "a b": gives topic name "a b", which contains " "; only ASCII letters, digits, '.', '_' and '-' are allowed`, ErrInvalidValue},
		{"templated dead letter", "subject = \"a.b\"\ntopic = \"t\"\ndead_letter_topic = \"x.{2}\"\n",
			`weir.toml:10: [[bridge.nats]] #2 dead_letter_topic = "x.{2}": gives topic name "x.{2}", which contains "{"; only ASCII letters, digits, '.', '_' and '-' are allowed (it may not hold {N} tokens)`, ErrInvalidValue},
		{"dead letter is topic", "subject = \"a.b\"\ntopic = \"t\"\ndead_letter_topic = \"t\"\n",
			`weir.toml:10: [[bridge.nats]] #2 dead_letter_topic = "t": must differ from topic`, ErrInvalidValue},
		{"duplicate name", "name = \"nats-1\"\nsubject = \"a\"\ntopic = \"t\"\n",
			`weir.toml:8: [[bridge.nats]] #2 name = "nats-1": name also used by [[bridge.nats]] #1; names must be unique`, ErrInvalidValue},
		{"bad url", "url = \"http://x:4222\"\nsubject = \"a\"\ntopic = \"t\"\n",
			`weir.toml:8: [[bridge.nats]] #2 url = "http://x:4222": "http://x:4222": the scheme must be nats://, tls://, ws:// or wss://`, ErrInvalidValue},
		{"jetstream key on core route", "subject = \"a\"\ntopic = \"t\"\nmax_ack_pending = 5\n",
			`weir.toml:10: [[bridge.nats]] #2 max_ack_pending: applies to stream routes only`, ErrInvalidValue},
		{"queue on stream route", "stream = \"S\"\ndurable = \"d\"\nqueue = \"q\"\ntopic = \"t\"\n",
			`weir.toml:10: [[bridge.nats]] #2 queue = "q": applies to subject routes only (a stream's pull consumer is shared by every bridge that names its durable)`, ErrInvalidValue},
		{"dedupe window too small", "stream = \"S\"\ndurable = \"d\"\ntopic = \"t\"\nmax_ack_pending = 100\ndedupe_window = 10\n",
			`weir.toml:12: [[bridge.nats]] #2 dedupe_window = 10: must be 0 (no deduplication) or at least max_ack_pending (100): a restart can redeliver that many messages`, ErrInvalidValue},
		{"bad durable", "stream = \"S\"\ndurable = \"a.b\"\ntopic = \"t\"\n",
			`weir.toml:9: [[bridge.nats]] #2 durable = "a.b": not a consumer name: may not hold white space, '.', '*', '>', '/' or '\'`, ErrInvalidValue},
		{"two auth methods", "subject = \"a\"\ntopic = \"t\"\ntoken = \"x\"\nuser = \"u\"\n",
			`weir.toml:11: [[bridge.nats]] #2 user: set one way to authenticate: token and user are both set`, ErrInvalidValue},
		{"tls cert without key", "subject = \"a\"\ntopic = \"t\"\ntls_cert = \"c.pem\"\n",
			`weir.toml:7: [[bridge.nats]] #2: tls_cert and tls_key go together: set both or neither`, ErrInvalidValue},
		{"zero batch", "subject = \"a\"\ntopic = \"t\"\nbatch_size = 0\n",
			`weir.toml:10: [[bridge.nats]] #2 batch_size = 0: must be between 1 and 100000`, ErrInvalidValue},
		{"not an array", "", "", nil}, // replaced below
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := head + tc.body
			if tc.class == nil {
				doc, tc.want, tc.class = "[bridge]\nnats = 3\n", `weir.toml:2: [bridge] nats = 3: expected [[bridge.nats]] entries (an array of tables), got an integer`, ErrWrongType
			}
			_, err := Parse([]byte(doc), "weir.toml")
			if err == nil {
				t.Fatalf("accepted:\n%s", doc)
			}
			var list ErrorList
			if !errors.As(err, &list) || len(list) != 1 {
				t.Fatalf("want exactly one problem, got %v", err)
			}
			msg := list[0].Error()
			if msg != tc.want {
				t.Errorf("message\n got %s\nwant %s", msg, tc.want)
			}
			if !errors.Is(err, tc.class) {
				t.Errorf("class: %v is not %v", err, tc.class)
			}
		})
	}
}

func TestBridgeUnknownSection(t *testing.T) {
	_, err := Parse([]byte("[bridge]\nkafka = 1\n"), "weir.toml")
	if err == nil || err.Error() != `weir.toml:2: [bridge] kafka = 1: unknown bridge (expected nats)` {
		t.Errorf("err = %v", err)
	}
	_, err = Parse([]byte("[[nats]]\nsubject = \"a\"\n"), "weir.toml")
	if err == nil || !strings.Contains(err.Error(), "NATS bridge routes are [[bridge.nats]] entries") {
		t.Errorf("err = %v", err)
	}
}

func TestValidateBridgeBuiltInCode(t *testing.T) {
	c := Default()
	c.Bridge.NATS = []NATSRoute{{Subject: "a.*", Topic: "t.{3}"}}
	c.Bridge.NATS[0].SetDefaults(1)
	err := c.Validate()
	if err == nil || err.Error() != `[[bridge.nats]] #1 topic = "t.{3}": subject token 3 does not exist: every message matches "a.*", which has 2 tokens` {
		t.Errorf("Validate = %v", err)
	}
}

func TestParseNATSKey(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want NATSKey
	}{
		{"", NATSKey{}},
		{"subject", NATSKey{Kind: NATSKeySubject}},
		{"token:2", NATSKey{Kind: NATSKeyToken, Token: 2}},
		{"header:Nats-Msg-Id", NATSKey{Kind: NATSKeyHeader, Header: "Nats-Msg-Id"}},
		{"json:user.id", NATSKey{Kind: NATSKeyJSON, Path: []string{"user", "id"}}},
		{"json:items.0", NATSKey{Kind: NATSKeyJSON, Path: []string{"items", "0"}}},
	} {
		got, err := ParseNATSKey(tc.in)
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseNATSKey(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
		}
	}
	for _, bad := range []string{"token", "token:x", "token:-1", "token:256", "header:", "header:a b", "json:", "json:.a", "key:1", "Subject"} {
		if _, err := ParseNATSKey(bad); err == nil {
			t.Errorf("ParseNATSKey(%q) accepted", bad)
		}
	}
}

func TestTopicTemplate(t *testing.T) {
	tm, err := ParseTopicTemplate("orders.{2}-{1}")
	if err != nil {
		t.Fatal(err)
	}
	if tm.Static() || tm.MaxToken() != 2 || tm.String() != "orders.{2}-{1}" {
		t.Errorf("template = %+v", tm)
	}
	got, err := tm.Render([]string{"eu", "paid", "x"})
	if err != nil || got != "orders.paid-eu" {
		t.Errorf("Render = %q, %v", got, err)
	}
	if _, err := tm.Render([]string{"eu"}); err == nil || !strings.Contains(err.Error(), "needs subject token 2 but the subject has 1") {
		t.Errorf("Render with too few tokens: %v", err)
	}
	if _, err := tm.Render([]string{"eu", "a:b"}); err == nil || !strings.Contains(err.Error(), `contains ":"`) {
		t.Errorf("Render with a token topics cannot hold: %v", err)
	}
	if !tm.Matches("orders.paid-eu") || tm.Matches("orders.paid") || tm.Matches("xorders.a-b") {
		t.Error("Matches")
	}
	st, err := ParseTopicTemplate("orders")
	if err != nil || !st.Static() {
		t.Fatal(err)
	}
	if got, err := st.Render(nil); err != nil || got != "orders" || !st.Matches("orders") || st.Matches("orders2") {
		t.Errorf("static: %q %v", got, err)
	}
	for _, bad := range []string{"", "a{1", "a}", "{0}", "{x}", "{256}", "a b", "..", strings.Repeat("a", 250)} {
		if _, err := ParseTopicTemplate(bad); err == nil {
			t.Errorf("ParseTopicTemplate(%q) accepted", bad)
		}
	}
}

// Zeros set in the file (no dedupe window, no linger) survive the
// defaults being applied again by whoever opens the routes.
func TestBridgeExplicitZerosSurviveSetDefaults(t *testing.T) {
	c, err := Parse([]byte(`[[bridge.nats]]
stream = "S"
durable = "d"
topic = "t"
dedupe_window = 0
linger_ms = 0
`), "weir.toml")
	if err != nil {
		t.Fatal(err)
	}
	r := c.Bridge.NATS[0]
	r.SetDefaults(1)
	if r.DedupeWindow != 0 || r.LingerMs != 0 || r.BatchSize != DefaultNATSBatchSize {
		t.Fatalf("after SetDefaults: dedupe_window %d linger_ms %d batch_size %d", r.DedupeWindow, r.LingerMs, r.BatchSize)
	}
}

package nats

import (
	"errors"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirmq/weir/core/config"
)

func TestJSONKey(t *testing.T) {
	doc := []byte(` {"user": {"id": "u-17", "n": 42, "f": -1.5e3, "ok": true, "none": null, "tags": ["a", {"x": "b"}], "obj": {}}} `)
	for _, tc := range []struct {
		path, want, err string
	}{
		{"user.id", "u-17", ""},
		{"user.n", "42", ""},
		{"user.f", "-1.5e3", ""},
		{"user.ok", "true", ""},
		{"user.tags.0", "a", ""},
		{"user.tags.1.x", "b", ""},
		{"user.none", "", "the value is null"},
		{"user.obj", "", "the value is an object or array, not a string, number or boolean"},
		{"user.missing", "", `no field "missing" at user`},
		{"nouser", "", `no field "nouser" at the top level`},
		{"user.tags.2", "", "index 2 is outside the 2-element array at user.tags"},
		{"user.tags.x", "", `user.tags is an array; "x" is not an index`},
		{"user.id.deeper", "", "user.id is not an object or array"},
	} {
		got, err := jsonKey(doc, strings.Split(tc.path, "."))
		switch {
		case tc.err != "" && (err == nil || err.Error() != tc.err):
			t.Errorf("%s: err = %v, want %q", tc.path, err, tc.err)
		case tc.err == "" && (err != nil || string(got) != tc.want):
			t.Errorf("%s = %q, %v; want %q", tc.path, got, err, tc.want)
		}
	}
	if _, err := jsonKey([]byte("not json"), []string{"a"}); err == nil || err.Error() != "the payload is not JSON" {
		t.Errorf("non-JSON payload: %v", err)
	}
}

func TestExtractKey(t *testing.T) {
	m := &message{subject: "orders.eu.42", header: nats.Header{"X-Trace": {"t1", "t2"}}, data: []byte(`{"id": 7}`)}
	tokens := func() []string { return strings.Split(m.subject, ".") }
	for _, tc := range []struct {
		spec, want string
		poison     bool
	}{
		{"", "", false},
		{"subject", "orders.eu.42", false},
		{"token:2", "eu", false},
		{"token:3", "42", false},
		{"token:4", "", true},
		{"header:X-Trace", "t1", false},
		{"header:x-trace", "t1", false}, // header names match regardless of case
		{"header:Missing", "", true},
		{"json:id", "7", false},
		{"json:nope", "", true},
	} {
		spec, err := config.ParseNATSKey(tc.spec)
		if err != nil {
			t.Fatal(err)
		}
		got, err := extractKey(&spec, m, tokens)
		var pe *errPoison
		if tc.poison {
			if !errors.As(err, &pe) || !strings.HasPrefix(pe.reason, "key: ") {
				t.Errorf("%q: err = %v, want a poison error", tc.spec, err)
			}
			continue
		}
		if err != nil || string(got) != tc.want || (tc.spec == "") != (got == nil) {
			t.Errorf("%q: key = %q (nil %v), %v; want %q", tc.spec, got, got == nil, err, tc.want)
		}
	}
}

func TestRecordHeaders(t *testing.T) {
	m := &message{subject: "a.b", reply: "_INBOX.1", header: nats.Header{"Z": {"1"}, "A": {"x", "y"}}}
	got := headerString(recordHeaders(m))
	if want := "A=x A=y Z=1 nats.subject=a.b nats.reply=_INBOX.1"; got != want {
		t.Errorf("core headers = %s, want %s", got, want)
	}
	js := &message{subject: "s.1", js: fakeJSMsg{}, stream: "S", seq: 12, header: nats.Header{HeaderMsgID: {"m1"}}}
	if got, want := headerString(recordHeaders(js)), "Nats-Msg-Id=m1 nats.subject=s.1 nats.stream=S nats.seq=12"; got != want {
		t.Errorf("JetStream headers = %s, want %s", got, want)
	}
	dl := deadLetter("t.dlq", js, []byte("k"), "t", "too large", true)
	if got, want := headerString(dl.Headers), "Nats-Msg-Id=m1 nats.subject=s.1 nats.stream=S nats.seq=12 weir.dlq.reason=too large weir.dlq.topic=t weir.dlq.size=0"; got != want || dl.Value != nil || string(dl.Key) != "k" {
		t.Errorf("dead letter = %s value %q, want %s", got, dl.Value, want)
	}
	if identity("m1", 12, 99) != "id:m1" || identity("", 12, 99) != "seq:12@99" {
		t.Error("identity")
	}
}

func headerString(hs []kgo.RecordHeader) string {
	var parts []string
	for _, h := range hs {
		parts = append(parts, h.Key+"="+string(h.Value))
	}
	return strings.Join(parts, " ")
}

func TestWindow(t *testing.T) {
	w := newWindow(3)
	a, b := fakeJSMsg{name: "a"}, fakeJSMsg{name: "b"}
	if w.begin("1", a) != beginWrite {
		t.Fatal("first delivery must be written")
	}
	if w.begin("1", b) != beginWaiting {
		t.Fatal("a redelivery while the first is being written must wait")
	}
	if waiting := w.commit("1"); len(waiting) != 1 || waiting[0] != b {
		t.Fatalf("commit returned %v", waiting)
	}
	if w.begin("1", a) != beginDuplicate {
		t.Fatal("a redelivery after the commit is a duplicate")
	}
	if w.begin("2", a) != beginWrite || w.begin("2", b) != beginWaiting {
		t.Fatal("second identity")
	}
	if waiting := w.abort("2"); len(waiting) != 1 {
		t.Fatalf("abort returned %v", waiting)
	}
	if w.begin("2", a) != beginWrite {
		t.Fatal("after an abort the message is written again")
	}
	w.commit("2")
	w.add("3")
	w.add("4") // evicts "1", the oldest
	if w.len() != 3 || w.begin("1", a) != beginWrite || w.begin("4", a) != beginDuplicate {
		t.Fatalf("eviction: len %d", w.len())
	}
	off := newWindow(0)
	off.commit("x")
	if off.begin("x", a) != beginWrite || off.len() != 0 {
		t.Fatal("a zero window remembers nothing")
	}
}

// fakeJSMsg stands for a delivered JetStream message where only its
// identity matters (the window stores messages, it never calls them).
type fakeJSMsg struct {
	jetstream.Msg
	name string
}

// Metadata: a fake has none (the queue then keeps every delivery).
func (fakeJSMsg) Metadata() (*jetstream.MsgMetadata, error) {
	return nil, errors.New("fake message: no metadata")
}

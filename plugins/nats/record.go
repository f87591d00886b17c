package nats

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/weirmq/weir/core/config"
)

// The Kafka headers the bridge adds to every record, besides the message's
// own NATS headers.
const (
	HeaderSubject = "nats.subject" // the subject the message was published on
	HeaderReply   = "nats.reply"   // its reply subject, when set (core NATS)
	HeaderStream  = "nats.stream"  // the JetStream stream it was read from
	HeaderSeq     = "nats.seq"     // its stream sequence number, decimal

	// HeaderMsgID is the NATS header publishers set to make a message
	// idempotent; the bridge deduplicates redeliveries by it.
	HeaderMsgID = "Nats-Msg-Id"

	HeaderDLQReason = "weir.dlq.reason" // why a message was dead-lettered
	HeaderDLQTopic  = "weir.dlq.topic"  // the topic it was meant for, when known
	HeaderDLQSize   = "weir.dlq.size"   // a too-large message's payload size (its value is left out)
)

// message is one NATS message on its way to a topic.
type message struct {
	subject string
	reply   string // core NATS only; a JetStream message's reply is its ack subject
	header  nats.Header
	data    []byte
	ts      time.Time     // publish time (JetStream); zero: now
	js      jetstream.Msg // nil for core NATS
	stream  string
	seq     uint64 // stream sequence
	id      string // identity for deduplication (JetStream); see identity
}

// fromJetStream converts a delivered JetStream message. It returns an
// error if the message carries no JetStream metadata.
func fromJetStream(m jetstream.Msg) (message, error) {
	md, err := m.Metadata()
	if err != nil {
		return message{}, fmt.Errorf("message on %q has no JetStream metadata: %w", m.Subject(), err)
	}
	msg := message{
		subject: m.Subject(), header: m.Headers(), data: m.Data(), ts: md.Timestamp,
		js: m, stream: md.Stream, seq: md.Sequence.Stream,
	}
	msg.id = identity(headerValue(msg.header, HeaderMsgID), msg.seq, msg.ts.UnixMilli())
	return msg, nil
}

// identity is how a stream message is known to the dedupe window: its
// Nats-Msg-Id when it has one, else its stream sequence and the
// millisecond the stream stored it (a stream deleted and created again
// reuses sequences, never with the same times). The time is also the
// record's timestamp, which is how the start-up scan recomputes it; a
// topic that overwrites timestamps (LogAppendTime) therefore gets no
// deduplication of messages without a Nats-Msg-Id after a restart —
// duplicates, never loss.
func identity(msgID string, seq uint64, storedMs int64) string {
	if msgID != "" {
		return "id:" + msgID
	}
	return "seq:" + strconv.FormatUint(seq, 10) + "@" + strconv.FormatInt(storedMs, 10)
}

// headerValue returns the first value of header name, "" if none.
func headerValue(h nats.Header, name string) string {
	v, _ := lookupHeader(h, name)
	return v
}

// lookupHeader returns the first value of header name, and whether there
// is one: an exact match first, else a name that differs only in case.
func lookupHeader(h nats.Header, name string) (string, bool) {
	if v := h[name]; len(v) > 0 {
		return v[0], true
	}
	for k, v := range h {
		if len(v) > 0 && strings.EqualFold(k, name) {
			return v[0], true
		}
	}
	return "", false
}

// errPoison marks a message the bridge cannot write to its topic; its
// text is the reason put in the dead-letter record.
type errPoison struct{ reason string }

func (e *errPoison) Error() string { return e.reason }

func poison(format string, args ...any) error {
	return &errPoison{reason: fmt.Sprintf(format, args...)}
}

// extractKey returns the record key for m as spec says; a nil key when
// spec is NATSKeyNone. It returns an errPoison when the key cannot be
// extracted.
func extractKey(spec *config.NATSKey, m *message, tokens func() []string) ([]byte, error) {
	switch spec.Kind {
	case config.NATSKeyNone:
		return nil, nil
	case config.NATSKeySubject:
		return []byte(m.subject), nil
	case config.NATSKeyToken:
		t := tokens()
		if spec.Token > len(t) {
			return nil, poison("key: subject %q has no token %d", m.subject, spec.Token)
		}
		return []byte(t[spec.Token-1]), nil
	case config.NATSKeyHeader:
		if v, ok := lookupHeader(m.header, spec.Header); ok {
			return []byte(v), nil
		}
		return nil, poison("key: the message has no header %q", spec.Header)
	case config.NATSKeyJSON:
		k, err := jsonKey(m.data, spec.Path)
		if err != nil {
			return nil, poison("key: json:%s: %v", strings.Join(spec.Path, "."), err)
		}
		return k, nil
	}
	return nil, poison("key: unknown key source %d", spec.Kind)
}

// jsonKey finds the scalar at path in a JSON document: a string gives its
// text, a number its digits as written, a boolean "true" or "false". A
// numeric path element indexes an array. Objects, arrays and null are not
// keys.
func jsonKey(doc []byte, path []string) ([]byte, error) {
	raw := json.RawMessage(bytes.TrimSpace(doc))
	if !json.Valid(raw) {
		return nil, errors.New("the payload is not JSON")
	}
	for i, field := range path {
		where := strings.Join(path[:i], ".")
		if where == "" {
			where = "the top level"
		}
		switch first(raw) {
		case '{':
			var obj map[string]json.RawMessage
			if err := json.Unmarshal(raw, &obj); err != nil {
				return nil, err
			}
			v, ok := obj[field]
			if !ok {
				return nil, fmt.Errorf("no field %q at %s", field, where)
			}
			raw = v
		case '[':
			n, err := strconv.Atoi(field)
			if err != nil {
				return nil, fmt.Errorf("%s is an array; %q is not an index", where, field)
			}
			var arr []json.RawMessage
			if err := json.Unmarshal(raw, &arr); err != nil {
				return nil, err
			}
			if n < 0 || n >= len(arr) {
				return nil, fmt.Errorf("index %d is outside the %d-element array at %s", n, len(arr), where)
			}
			raw = arr[n]
		default:
			return nil, fmt.Errorf("%s is not an object or array", where)
		}
	}
	raw = bytes.TrimSpace(raw)
	switch c := first(raw); {
	case c == '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, err
		}
		return []byte(s), nil
	case c == 't' || c == 'f' || c == '-' || c >= '0' && c <= '9':
		return slices.Clone(raw), nil
	case c == 'n':
		return nil, errors.New("the value is null")
	}
	return nil, errors.New("the value is an object or array, not a string, number or boolean")
}

func first(raw []byte) byte {
	for _, c := range raw {
		if c != ' ' && c != '\t' && c != '\r' && c != '\n' {
			return c
		}
	}
	return 0
}

// recordHeaders returns m's NATS headers (in name order, each value its own
// header) followed by the bridge's own. The slice is the caller's.
func recordHeaders(m *message) []kgo.RecordHeader {
	n := 2
	for _, v := range m.header {
		n += len(v)
	}
	hs := make([]kgo.RecordHeader, 0, n+2)
	names := make([]string, 0, len(m.header))
	for k := range m.header {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		for _, v := range m.header[k] {
			hs = append(hs, kgo.RecordHeader{Key: k, Value: []byte(v)})
		}
	}
	hs = append(hs, kgo.RecordHeader{Key: HeaderSubject, Value: []byte(m.subject)})
	if m.reply != "" {
		hs = append(hs, kgo.RecordHeader{Key: HeaderReply, Value: []byte(m.reply)})
	}
	if m.js != nil {
		hs = append(hs,
			kgo.RecordHeader{Key: HeaderStream, Value: []byte(m.stream)},
			kgo.RecordHeader{Key: HeaderSeq, Value: strconv.AppendUint(nil, m.seq, 10)})
	}
	return hs
}

// recordSize estimates the bytes r takes in a record batch of its own,
// batch header included, erring high.
func recordSize(r *kgo.Record) int {
	const batchHeader, recordOverhead, headerOverhead = 61, 21, 10
	n := batchHeader + recordOverhead + len(r.Key) + len(r.Value)
	for _, h := range r.Headers {
		n += headerOverhead + len(h.Key) + len(h.Value)
	}
	return n
}

// deadLetter returns the dead-letter record for a message that could not
// be written: its key (when one was extracted), its payload (unless it was
// too large), its headers, and the reason, the intended topic and, for a
// payload left out, its size.
func deadLetter(dlq string, m *message, key []byte, topic, reason string, dropValue bool) *kgo.Record {
	r := &kgo.Record{Topic: dlq, Key: key, Headers: recordHeaders(m), Timestamp: m.ts}
	r.Headers = append(r.Headers, kgo.RecordHeader{Key: HeaderDLQReason, Value: []byte(reason)})
	if topic != "" {
		r.Headers = append(r.Headers, kgo.RecordHeader{Key: HeaderDLQTopic, Value: []byte(topic)})
	}
	if dropValue {
		r.Headers = append(r.Headers, kgo.RecordHeader{Key: HeaderDLQSize, Value: strconv.AppendInt(nil, int64(len(m.data)), 10)})
	} else {
		r.Value = m.data
	}
	return r
}

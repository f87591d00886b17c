package config

import (
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
)

// Bridge is the [bridge] section: routes that copy messages from other
// systems into topics. Today only NATS ([[bridge.nats]]).
type Bridge struct {
	NATS []NATSRoute // [[bridge.nats]], in file order
}

// Defaults of a [[bridge.nats]] route's settings. The decoder starts every
// route from them; SetDefaults fills them into a route built in code.
const (
	DefaultNATSURL           = "nats://127.0.0.1:4222"
	DefaultNATSBatchSize     = 500
	DefaultNATSLingerMs      = 5
	DefaultNATSMaxAckPending = 10000
	DefaultNATSAckWaitMs     = 30000
	DefaultNATSDedupeWindow  = 20000
	DefaultNATSPendingLimit  = 65536
)

// NATSRoute is one [[bridge.nats]] entry: a core NATS subscription or a
// JetStream stream (read with a durable pull consumer) copied into a topic.
// Exactly one of Subject and Stream is set; Durable goes with Stream.
type NATSRoute struct {
	// Name labels the route in metrics, status and logs, and names the
	// default dead-letter topic of a templated route. Default "nats-<n>",
	// n being the entry's 1-based position in the file.
	Name string
	// URL is the NATS server, or several separated by commas
	// (nats://, tls://, ws:// or wss://). Default DefaultNATSURL.
	URL string

	Subject string // subject: a core NATS subscription; wildcards allowed
	Queue   string // queue: queue group of Subject (core routes only)

	Stream        string // stream: a JetStream stream
	Durable       string // durable: the pull consumer's durable name; required with Stream
	FilterSubject string // filter_subject: only the stream's messages on these subjects

	// Topic is the destination topic. It may take subject tokens, {N}
	// being the N-th (1-based): "orders.{2}". See ParseTopicTemplate.
	Topic string
	// Key says where a record's key comes from: "" (no key), "subject",
	// "token:N", "header:NAME" or "json:FIELD.PATH". See ParseNATSKey.
	Key string
	// DeadLetterTopic receives poison messages; see DeadLetter for the
	// default.
	DeadLetterTopic string

	Credentials string // credentials: path to a .creds file (user JWT and nkey seed)
	NKey        string // nkey: path to an nkey seed file
	User        string // user, with Password
	Password    string
	Token       string // token: an authentication token
	TLSCA       string // tls_ca: CA certificates (PEM) to verify the server by
	TLSCert     string // tls_cert: client certificate (PEM), with TLSKey
	TLSKey      string // tls_key: client key (PEM)

	BatchSize int // batch_size: messages collected into one produce batch, ≥ 1
	LingerMs  int // linger_ms: how long a batch may wait to fill, 0–60000

	// JetStream only.
	MaxAckPending int // max_ack_pending: messages delivered but not yet acked, ≥ 1
	AckWaitMs     int // ack_wait_ms: redelivery delay of an unacked message, ≥ 1000
	// DedupeWindow is how many recently written message identities the
	// route remembers, so that a redelivered message is not written twice;
	// 0 turns deduplication off. Otherwise at least MaxAckPending.
	DedupeWindow int

	// Core NATS only: messages the client buffers before it starts
	// dropping (slow consumer), ≥ 1.
	PendingLimit int

	// defaulted: SetDefaults has run (the decoder runs it, then restores
	// the zeros the file set explicitly, such as dedupe_window = 0); it
	// does not run again.
	defaulted bool
}

// IsJetStream reports whether the route reads a JetStream stream.
func (r *NATSRoute) IsJetStream() bool { return r.Stream != "" }

// DeadLetter returns the route's dead-letter topic: DeadLetterTopic when
// set, else "<topic>.dlq" for a topic without tokens, else "<name>.dlq".
func (r *NATSRoute) DeadLetter() string {
	if r.DeadLetterTopic != "" {
		return r.DeadLetterTopic
	}
	if !strings.Contains(r.Topic, "{") {
		return r.Topic + ".dlq"
	}
	return r.Name + ".dlq"
}

// SetDefaults fills the settings of r that are zero with their defaults,
// and Name with "nats-<n>" when empty (n is the route's 1-based position).
// The decoder does this before reading an entry, so a value written in the
// file as 0 stays 0 (and Validate reports it where 0 is not allowed).
func (r *NATSRoute) SetDefaults(n int) {
	if r.defaulted {
		return // the decoder filled them, keeping the zeros the file set
	}
	r.defaulted = true
	if r.Name == "" {
		r.Name = "nats-" + strconv.Itoa(n)
	}
	if r.URL == "" {
		r.URL = DefaultNATSURL
	}
	if r.BatchSize == 0 {
		r.BatchSize = DefaultNATSBatchSize
	}
	if r.LingerMs == 0 {
		r.LingerMs = DefaultNATSLingerMs
	}
	if r.MaxAckPending == 0 {
		r.MaxAckPending = DefaultNATSMaxAckPending
	}
	if r.AckWaitMs == 0 {
		r.AckWaitMs = DefaultNATSAckWaitMs
	}
	if r.DedupeWindow == 0 {
		r.DedupeWindow = max(DefaultNATSDedupeWindow, r.MaxAckPending)
	}
	if r.PendingLimit == 0 {
		r.PendingLimit = DefaultNATSPendingLimit
	}
}

// NATSKeyKind is where a bridged record's key comes from.
type NATSKeyKind uint8

// The key sources of ParseNATSKey.
const (
	NATSKeyNone    NATSKeyKind = iota // "": records have no key
	NATSKeySubject                    // "subject": the whole subject
	NATSKeyToken                      // "token:N": the N-th subject token
	NATSKeyHeader                     // "header:NAME": a NATS header's first value
	NATSKeyJSON                       // "json:FIELD.PATH": a scalar in a JSON payload
)

// NATSKey is a parsed key specification.
type NATSKey struct {
	Kind   NATSKeyKind
	Token  int      // NATSKeyToken: 1-based subject token
	Header string   // NATSKeyHeader: header name
	Path   []string // NATSKeyJSON: object fields (or array indexes) from the top
}

const natsKeyForms = `expected "", "subject", "token:N", "header:NAME" or "json:FIELD.PATH"`

// ParseNATSKey parses a route's key setting. It returns an error saying
// what is wrong with s and what is expected.
func ParseNATSKey(s string) (NATSKey, error) {
	if s == "" {
		return NATSKey{}, nil
	}
	if s == "subject" {
		return NATSKey{Kind: NATSKeySubject}, nil
	}
	kind, arg, ok := strings.Cut(s, ":")
	if !ok {
		return NATSKey{}, fmt.Errorf("not a key source; %s", natsKeyForms)
	}
	switch kind {
	case "token":
		n, err := strconv.Atoi(arg)
		if err != nil || n < 1 || n > 255 {
			return NATSKey{}, fmt.Errorf("token %q is not a subject token number from 1 to 255 (tokens count from 1)", arg)
		}
		return NATSKey{Kind: NATSKeyToken, Token: n}, nil
	case "header":
		if arg == "" || strings.ContainsAny(arg, " \t\r\n:") {
			return NATSKey{}, fmt.Errorf("header name %q is empty or holds a space or ':'", arg)
		}
		return NATSKey{Kind: NATSKeyHeader, Header: arg}, nil
	case "json":
		path := strings.Split(arg, ".")
		for _, p := range path {
			if p == "" {
				return NATSKey{}, fmt.Errorf("JSON path %q has an empty field; write fields separated by dots, e.g. json:user.id", arg)
			}
		}
		return NATSKey{Kind: NATSKeyJSON, Path: path}, nil
	}
	return NATSKey{}, fmt.Errorf("unknown key source %q; %s", kind, natsKeyForms)
}

// TopicTemplate is a parsed topic setting: literal text and {N} subject
// tokens. A TopicTemplate is immutable and safe for concurrent use.
type TopicTemplate struct {
	text     string
	parts    []templatePart
	maxToken int
	match    *regexp.Regexp
}

type templatePart struct {
	lit   string
	token int // 1-based; 0 for a literal
}

// ParseTopicTemplate parses a topic that may hold subject tokens written
// {N} (1-based), e.g. "orders.{2}". The literal text must be legal in a
// Kafka topic name (ASCII letters, digits, '.', '_', '-'); a template
// without tokens must be a valid topic name. It returns an error saying
// what is wrong.
func ParseTopicTemplate(s string) (TopicTemplate, error) {
	t := TopicTemplate{text: s}
	if !strings.ContainsAny(s, "{}") {
		if err := checkTopicName(s); err != nil {
			return TopicTemplate{}, err
		}
		t.parts = []templatePart{{lit: s}}
		t.match = regexp.MustCompile("^" + regexp.QuoteMeta(s) + "$")
		return t, nil
	}
	re := "^"
	for rest := s; rest != ""; {
		i := strings.IndexAny(rest, "{}")
		if i < 0 {
			i = len(rest)
		}
		if lit := rest[:i]; lit != "" {
			if c := illegalTopicChar(lit); c != "" {
				return TopicTemplate{}, fmt.Errorf("contains %q; topic names hold only ASCII letters, digits, '.', '_' and '-' besides {N} tokens", c)
			}
			t.parts = append(t.parts, templatePart{lit: lit})
			re += regexp.QuoteMeta(lit)
		}
		rest = rest[i:]
		if rest == "" {
			break
		}
		if rest[0] == '}' {
			return TopicTemplate{}, fmt.Errorf("'}' without '{'; write subject tokens as {N}, e.g. orders.{2}")
		}
		end := strings.IndexByte(rest, '}')
		if end < 0 {
			return TopicTemplate{}, fmt.Errorf("'{' is not closed; write subject tokens as {N}, e.g. orders.{2}")
		}
		n, err := strconv.Atoi(rest[1:end])
		if err != nil || n < 1 || n > 255 {
			return TopicTemplate{}, fmt.Errorf("%s is not a subject token: write {N} with N from 1 to 255 (tokens count from 1)", rest[:end+1])
		}
		t.parts = append(t.parts, templatePart{token: n})
		t.maxToken = max(t.maxToken, n)
		re += ".+"
		rest = rest[end+1:]
	}
	t.match = regexp.MustCompile(re + "$")
	return t, nil
}

// String returns the template as written.
func (t TopicTemplate) String() string { return t.text }

// Static reports whether the template has no tokens: every message goes to
// the topic String names.
func (t TopicTemplate) Static() bool { return t.maxToken == 0 }

// MaxToken returns the highest token number the template uses, 0 if none.
func (t TopicTemplate) MaxToken() int { return t.maxToken }

// Render returns the topic for a subject split into tokens. It returns an
// error when the subject has too few tokens or the result is not a valid
// topic name (a token holding characters topics cannot).
func (t TopicTemplate) Render(tokens []string) (string, error) {
	if t.Static() {
		return t.text, nil
	}
	var b strings.Builder
	for _, p := range t.parts {
		if p.token == 0 {
			b.WriteString(p.lit)
			continue
		}
		if p.token > len(tokens) {
			return "", fmt.Errorf("topic %q needs subject token %d but the subject has %d", t.text, p.token, len(tokens))
		}
		b.WriteString(tokens[p.token-1])
	}
	topic := b.String()
	if err := checkTopicName(topic); err != nil {
		return "", fmt.Errorf("topic %q gives %w", t.text, err)
	}
	return topic, nil
}

// Matches reports whether topic could have been rendered by the template.
func (t TopicTemplate) Matches(topic string) bool {
	return t.match != nil && t.match.MatchString(topic)
}

// checkTopicName checks a topic name against Kafka's rules (the
// controller's rules; config cannot import it).
func checkTopicName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("an empty topic name")
	case name == "." || name == "..":
		return fmt.Errorf("topic name %q, which is not allowed", name)
	case len(name) > 249:
		return fmt.Errorf("a topic name of %d characters; the limit is 249", len(name))
	}
	if c := illegalTopicChar(name); c != "" {
		return fmt.Errorf("topic name %q, which contains %q; only ASCII letters, digits, '.', '_' and '-' are allowed", name, c)
	}
	return nil
}

func illegalTopicChar(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return s[i : i+1]
		}
	}
	return ""
}

// checkSubject checks a NATS subject (wildcards allowed) and returns "" or
// the reason it is not one.
func checkSubject(s string) string {
	if s == "" {
		return "is empty"
	}
	if strings.ContainsAny(s, " \t\r\n") {
		return "holds white space"
	}
	tokens := strings.Split(s, ".")
	for i, tok := range tokens {
		switch {
		case tok == "":
			return "has an empty token (two dots, or a dot at an end)"
		case tok == ">" && i != len(tokens)-1:
			return "'>' may only be the last token"
		case tok != "*" && tok != ">" && strings.ContainsAny(tok, "*>"):
			return "wildcards '*' and '>' must be whole tokens"
		}
	}
	return ""
}

// subjectTokens returns how many tokens every subject matching s has, or
// -1 when s ends in '>' (any number from its length up).
func subjectTokens(s string) int {
	if s == ">" || strings.HasSuffix(s, ".>") {
		return -1
	}
	return strings.Count(s, ".") + 1
}

// checkNATSName checks a stream or consumer name.
func checkNATSName(s string) string {
	if s == "" {
		return "is empty"
	}
	if strings.ContainsAny(s, " \t\r\n.*>/\\") {
		return "may not hold white space, '.', '*', '>', '/' or '\\'"
	}
	return ""
}

func checkNATSURLs(s string) string {
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		u, err := url.Parse(part)
		if err != nil || part == "" {
			return fmt.Sprintf("%q is not a URL; expected e.g. nats://127.0.0.1:4222", part)
		}
		switch u.Scheme {
		case "nats", "tls", "ws", "wss":
		default:
			return fmt.Sprintf("%q: the scheme must be nats://, tls://, ws:// or wss://", part)
		}
		if u.Host == "" {
			return fmt.Sprintf("%q has no host", part)
		}
	}
	return ""
}

// The decoder.

var natsRouteKeys = []string{
	"name", "url", "subject", "queue", "stream", "durable", "filter_subject", "topic", "key",
	"dead_letter_topic", "credentials", "nkey", "user", "password", "token", "tls_ca", "tls_cert",
	"tls_key", "batch_size", "linger_ms", "max_ack_pending", "ack_wait_ms", "dedupe_window", "pending_limit",
}

// bridge decodes [bridge].
func (d *decoder) bridge(x any, p string, b *Bridge) {
	t, ok := d.table(field{key: "bridge"}, x)
	if !ok {
		return
	}
	for _, k := range sortedKeys(t) {
		kp := keyPath(p, k)
		f := d.at(field{section: "bridge", key: k}, kp)
		if k != "nats" {
			d.unknown(f, t[k], "bridge", []string{"nats"}, "")
			continue
		}
		b.NATS = d.natsRoutes(t[k], kp)
	}
}

const natsSection = "bridge.nats"

func (d *decoder) natsRoutes(x any, p string) []NATSRoute {
	list, ok := x.([]any)
	if !ok {
		d.fail(field{section: "bridge", key: "nats"}, displayTOML(x), ErrWrongType,
			"expected [[bridge.nats]] entries (an array of tables), got "+tomlTypeName(x))
		return nil
	}
	routes := make([]NATSRoute, 0, len(list))
	for i, el := range list {
		ep := elemPath(p, i)
		ef := d.at(field{section: natsSection, elem: i + 1}, ep)
		t, ok := el.(map[string]any)
		if !ok {
			d.fail(ef, displayTOML(el), ErrWrongType, "expected a table, got "+tomlTypeName(el))
			continue
		}
		r := NATSRoute{}
		strs := map[string]*string{
			"name": &r.Name, "url": &r.URL, "subject": &r.Subject, "queue": &r.Queue,
			"stream": &r.Stream, "durable": &r.Durable, "filter_subject": &r.FilterSubject,
			"topic": &r.Topic, "key": &r.Key, "dead_letter_topic": &r.DeadLetterTopic,
			"credentials": &r.Credentials, "nkey": &r.NKey, "user": &r.User, "password": &r.Password,
			"token": &r.Token, "tls_ca": &r.TLSCA, "tls_cert": &r.TLSCert, "tls_key": &r.TLSKey,
		}
		ints := map[string]*int{
			"batch_size": &r.BatchSize, "linger_ms": &r.LingerMs, "max_ack_pending": &r.MaxAckPending,
			"ack_wait_ms": &r.AckWaitMs, "dedupe_window": &r.DedupeWindow, "pending_limit": &r.PendingLimit,
		}
		for _, k := range sortedKeys(t) {
			f := d.at(field{section: natsSection, elem: i + 1, key: k}, keyPath(ep, k))
			if dst, ok := strs[k]; ok {
				*dst, _ = d.str(f, t[k])
				continue
			}
			if dst, ok := ints[k]; ok {
				if v, ok := d.value(f, t[k], TypeInt); ok {
					*dst = int(v.Int())
				}
				continue
			}
			d.unknown(f, t[k], "[[bridge.nats]] key", natsRouteKeys, natsKeyHint(k))
		}
		// Fill what the entry leaves out, keeping explicit zeros.
		zeros := map[*int]bool{}
		for k, dst := range ints {
			if _, set := t[k]; set && *dst == 0 {
				zeros[dst] = true
			}
		}
		r.SetDefaults(i + 1)
		for dst := range zeros {
			*dst = 0
		}
		routes = append(routes, r)
	}
	return routes
}

func natsKeyHint(k string) string {
	switch k {
	case "servers", "urls", "server":
		return `servers go in url, separated by commas: url = "nats://a:4222,nats://b:4222"`
	case "queue_group", "group":
		return `the queue group is queue = "..."`
	case "consumer":
		return `the pull consumer's name is durable = "..."`
	}
	return ""
}

// The validator.

// routeFailed says whether the decoder reported a problem in [[bridge.nats]]
// entry elem.
func (w *locator) routeFailed(elem int) bool {
	return w != nil && w.failedIn[natsSection+" #"+strconv.Itoa(elem)]
}

// setInFile says whether the file wrote f (false without a file).
func (w *locator) setInFile(f field) bool {
	if w == nil {
		return false
	}
	_, ok := w.lines[f]
	return ok
}

func (v *validator) bridge(c *Config) {
	names := map[string]int{}
	for i := range c.Bridge.NATS {
		r := &c.Bridge.NATS[i]
		el := i + 1
		if v.w.routeFailed(el) {
			continue // a misspelt key would also be reported missing
		}
		f := func(key string) field { return field{section: natsSection, elem: el, key: key} }
		ef := f("")
		add := func(key, val, reason string) { v.add(f(key), strconv.Quote(val), ErrInvalidValue, reason) }
		switch j, dup := names[r.Name]; {
		case r.Name == "":
			add("name", r.Name, "must not be empty")
		case illegalTopicChar(r.Name) != "":
			add("name", r.Name, "may hold only ASCII letters, digits, '.', '_' and '-' (it labels metrics and names the default dead-letter topic)")
		case dup:
			add("name", r.Name, fmt.Sprintf("name also used by [[bridge.nats]] #%d; names must be unique", j))
		default:
			names[r.Name] = el
		}
		if reason := checkNATSURLs(r.URL); reason != "" {
			add("url", r.URL, reason)
		}

		// Source: exactly one of subject and stream.
		var subjectShape string // the subject that every message matches, if known
		switch {
		case r.Subject != "" && r.Stream != "":
			add("stream", r.Stream, "a route reads either a core NATS subject or a JetStream stream: set subject or stream, not both")
		case r.Subject == "" && r.Stream == "":
			v.add(ef, "", ErrInvalidValue, `needs subject = "..." (core NATS) or stream = "..." with durable = "..." (JetStream)`)
		case r.Subject != "":
			if reason := checkSubject(r.Subject); reason != "" {
				add("subject", r.Subject, "not a NATS subject: "+reason)
			} else {
				subjectShape = r.Subject
			}
			if r.Durable != "" {
				add("durable", r.Durable, "applies to stream routes only")
			}
			if r.FilterSubject != "" {
				add("filter_subject", r.FilterSubject, "applies to stream routes only")
			}
			for _, k := range []string{"max_ack_pending", "ack_wait_ms", "dedupe_window"} {
				if v.w.setInFile(f(k)) {
					v.add(f(k), "", ErrInvalidValue, "applies to stream routes only")
				}
			}
			if r.Queue != "" && strings.ContainsAny(r.Queue, " \t\r\n") {
				add("queue", r.Queue, "a queue group name may not hold white space")
			}
			if r.PendingLimit < 1 {
				v.add(f("pending_limit"), strconv.Itoa(r.PendingLimit), ErrInvalidValue, "must be at least 1")
			}
		default:
			if reason := checkNATSName(r.Stream); reason != "" {
				add("stream", r.Stream, "not a stream name: "+reason)
			}
			switch reason := checkNATSName(r.Durable); {
			case r.Durable == "":
				if !v.w.reported(f("durable")) {
					v.add(ef, "", ErrInvalidValue, `a stream route needs durable = "..." naming its pull consumer`)
				}
			case reason != "":
				add("durable", r.Durable, "not a consumer name: "+reason)
			}
			if r.FilterSubject != "" {
				if reason := checkSubject(r.FilterSubject); reason != "" {
					add("filter_subject", r.FilterSubject, "not a NATS subject: "+reason)
				} else {
					subjectShape = r.FilterSubject
				}
			}
			if r.Queue != "" {
				add("queue", r.Queue, "applies to subject routes only (a stream's pull consumer is shared by every bridge that names its durable)")
			}
			if v.w.setInFile(f("pending_limit")) {
				v.add(f("pending_limit"), "", ErrInvalidValue, "applies to subject routes only")
			}
			if r.MaxAckPending < 1 {
				v.add(f("max_ack_pending"), strconv.Itoa(r.MaxAckPending), ErrInvalidValue, "must be at least 1")
			}
			if r.AckWaitMs < 1000 {
				v.add(f("ack_wait_ms"), strconv.Itoa(r.AckWaitMs), ErrInvalidValue, "must be at least 1000")
			}
			if r.DedupeWindow < 0 || r.DedupeWindow > 0 && r.DedupeWindow < r.MaxAckPending {
				v.add(f("dedupe_window"), strconv.Itoa(r.DedupeWindow), ErrInvalidValue,
					fmt.Sprintf("must be 0 (no deduplication) or at least max_ack_pending (%d): a restart can redeliver that many messages", r.MaxAckPending))
			}
		}
		tokens := -1
		if subjectShape != "" {
			tokens = subjectTokens(subjectShape)
		}
		tooFew := func(n int) string {
			return fmt.Sprintf("subject token %d does not exist: every message matches %q, which has %d tokens", n, subjectShape, tokens)
		}

		switch tmpl, err := ParseTopicTemplate(r.Topic); {
		case r.Topic == "":
			if !v.w.reported(f("topic")) {
				v.add(ef, "", ErrInvalidValue, `needs topic = "..." naming the destination topic`)
			}
		case err != nil:
			add("topic", r.Topic, "gives "+err.Error())
		case tokens >= 0 && tmpl.MaxToken() > tokens:
			add("topic", r.Topic, tooFew(tmpl.MaxToken()))
		}
		switch key, err := ParseNATSKey(r.Key); {
		case err != nil:
			add("key", r.Key, err.Error())
		case key.Kind == NATSKeyToken && tokens >= 0 && key.Token > tokens:
			add("key", r.Key, tooFew(key.Token))
		}
		if r.DeadLetterTopic != "" {
			if err := checkTopicName(r.DeadLetterTopic); err != nil {
				add("dead_letter_topic", r.DeadLetterTopic, "gives "+err.Error()+" (it may not hold {N} tokens)")
			}
		}
		if r.Topic != "" && r.DeadLetter() == r.Topic {
			add("dead_letter_topic", r.DeadLetterTopic, "must differ from topic")
		}

		// Authentication and TLS.
		var auth []string
		for _, a := range []struct{ key, val string }{{"credentials", r.Credentials}, {"nkey", r.NKey}, {"token", r.Token}, {"user", r.User}} {
			if a.val != "" {
				auth = append(auth, a.key)
			}
		}
		if len(auth) > 1 {
			v.add(f(auth[1]), "", ErrInvalidValue, "set one way to authenticate: "+strings.Join(auth, " and ")+" are both set")
		}
		if r.Password != "" && r.User == "" {
			v.add(f("password"), "", ErrInvalidValue, `needs user = "..."`)
		}
		if (r.TLSCert == "") != (r.TLSKey == "") {
			v.add(ef, "", ErrInvalidValue, "tls_cert and tls_key go together: set both or neither")
		}

		if r.BatchSize < 1 || r.BatchSize > 100000 {
			v.add(f("batch_size"), strconv.Itoa(r.BatchSize), ErrInvalidValue, "must be between 1 and 100000")
		}
		if r.LingerMs < 0 || r.LingerMs > 60000 {
			v.add(f("linger_ms"), strconv.Itoa(r.LingerMs), ErrInvalidValue, "must be between 0 and 60000")
		}
	}
}

package config

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Def defines one Kafka config: its name, type, default, the values it
// accepts and what it does. The topic and broker tables (TopicTable,
// BrokerTable) hold one Def per config; TOML, CreateTopics,
// DescribeConfigs and AlterConfigs all read them.
type Def struct {
	Name    string
	Type    Type
	Default Value
	// Valid describes the accepted values as Kafka's documentation does,
	// e.g. "[14,...]", "[0,...,1]" or "[producer, uncompressed, ...]"; ""
	// when every value of Type is accepted.
	Valid string
	Doc   string
	// BrokerSynonym is, for a topic config, Kafka's name for the broker
	// setting that supplies the cluster-wide default (retention.ms has
	// log.retention.ms). Only the synonyms that are also in BrokerTable
	// (message.max.bytes, min.insync.replicas,
	// unclean.leader.election.enable) are read from [broker]; the rest are
	// set in [topic_defaults] under the topic name.
	BrokerSynonym string

	rule rule
}

// Check reports whether v is a valid value for d: the right type and
// within the config's rule. It returns nil or a *ValueError.
func (d Def) Check(v Value) error {
	if reason, class := d.check(v); reason != "" {
		return &ValueError{Name: d.Name, Value: v.String(), Reason: reason, Err: class}
	}
	return nil
}

func (d Def) check(v Value) (string, error) {
	if v.Type() != d.Type {
		if v.Type() == 0 {
			return "no value", ErrWrongType
		}
		return "expected " + d.Type.expected() + ", got a " + v.Type().String(), ErrWrongType
	}
	if d.Type == TypeDouble && math.IsNaN(v.Double()) {
		return "must be a number, not NaN", ErrInvalidValue
	}
	if d.rule.check != nil {
		if reason := d.rule.check(v); reason != "" {
			return reason, ErrInvalidValue
		}
	}
	return "", nil
}

// Parse parses s, Kafka's string form of a value for d (as CreateTopics and
// AlterConfigs carry it), and checks it. It returns a *ValueError on
// failure.
func (d Def) Parse(s string) (Value, error) {
	v, reason, class := parseKafka(d.Type, s)
	if class == nil {
		reason, class = d.check(v)
	}
	if class != nil {
		return Value{}, &ValueError{Name: d.Name, Value: s, Reason: reason, Err: class}
	}
	return v, nil
}

// rule restricts the values of a config beyond its type, like Kafka's
// ConfigDef.Validator.
type rule struct {
	valid string               // Kafka-style description
	check func(v Value) string // "" when valid, else the reason
}

func atLeast(lo int64) rule {
	return rule{
		valid: "[" + strconv.FormatInt(lo, 10) + ",...]",
		check: func(v Value) string {
			if v.Long() < lo {
				return "must be at least " + strconv.FormatInt(lo, 10)
			}
			return ""
		},
	}
}

func between(lo, hi int64) rule {
	return rule{
		valid: "[" + strconv.FormatInt(lo, 10) + ",...," + strconv.FormatInt(hi, 10) + "]",
		check: func(v Value) string {
			if n := v.Long(); n < lo || n > hi {
				return "must be between " + strconv.FormatInt(lo, 10) + " and " + strconv.FormatInt(hi, 10)
			}
			return ""
		},
	}
}

func betweenFloat(lo, hi float64) rule {
	los, his := strconv.FormatFloat(lo, 'g', -1, 64), strconv.FormatFloat(hi, 'g', -1, 64)
	return rule{
		valid: "[" + los + ",...," + his + "]",
		check: func(v Value) string {
			if f := v.Double(); !(f >= lo && f <= hi) {
				return "must be between " + los + " and " + his
			}
			return ""
		},
	}
}

func positiveFloat() rule {
	return rule{
		valid: "(0,...]",
		check: func(v Value) string {
			if !(v.Double() > 0) {
				return "must be greater than 0"
			}
			return ""
		},
	}
}

// minusOneOr accepts -1 (meaning "the codec's default") or a value in r.
func minusOneOr(r rule) rule {
	return rule{
		valid: "-1 or " + r.valid,
		check: func(v Value) string {
			if v.Long() == -1 {
				return ""
			}
			if reason := r.check(v); reason != "" {
				return reason + ", or -1 for the default"
			}
			return ""
		},
	}
}

// oneOf accepts a string equal to one of names (case-sensitive, as Kafka's
// ValidString).
func oneOf(names ...string) rule {
	return rule{
		valid: "[" + strings.Join(names, ", ") + "]",
		check: func(v Value) string {
			if !slices.Contains(names, v.String()) {
				return "must be one of " + strings.Join(names, ", ")
			}
			return ""
		},
	}
}

// listOf accepts a non-empty list each of whose items is one of names.
func listOf(names ...string) rule {
	return rule{
		valid: "[" + strings.Join(names, ", ") + "]",
		check: func(v Value) string {
			items := v.List()
			if len(items) == 0 {
				return "must name at least one of " + strings.Join(names, ", ")
			}
			for _, it := range items {
				if !slices.Contains(names, it) {
					return fmt.Sprintf("%q is not one of %s", it, strings.Join(names, ", "))
				}
			}
			return ""
		},
	}
}

// Table is one set of config definitions: the topic configs or the broker
// configs. A Table never changes and is safe for concurrent use.
type Table struct {
	kind  string // "topic" or "broker"
	defs  []Def  // sorted by name
	index map[string]int
}

// spec is a Def as written in a table literal: the default in Kafka's
// string form, so the table reads like Kafka's documentation and defaults
// go through the same parser as user values.
type spec struct {
	name    string
	typ     Type
	dflt    string
	rule    rule
	doc     string
	synonym string
}

// newTable builds a Table from specs. A bad spec is a bug in this package,
// found by the tests, so it panics.
func newTable(kind string, specs []spec) *Table {
	t := &Table{kind: kind, index: make(map[string]int, len(specs))}
	for _, s := range specs {
		d := Def{Name: s.name, Type: s.typ, Valid: s.rule.valid, Doc: s.doc, BrokerSynonym: s.synonym, rule: s.rule}
		v, err := d.Parse(s.dflt)
		if err != nil {
			panic(fmt.Sprintf("config: built-in default of %s config %s", kind, err))
		}
		d.Default = v
		t.defs = append(t.defs, d)
	}
	sort.Slice(t.defs, func(i, j int) bool { return t.defs[i].Name < t.defs[j].Name })
	for i, d := range t.defs {
		if _, dup := t.index[d.Name]; dup {
			panic("config: " + kind + " config " + d.Name + " defined twice")
		}
		t.index[d.Name] = i
	}
	return t
}

// Kind returns "topic" or "broker".
func (t *Table) Kind() string { return t.kind }

// Lookup returns the definition of the named config.
func (t *Table) Lookup(name string) (Def, bool) {
	i, ok := t.index[name]
	if !ok {
		return Def{}, false
	}
	return t.defs[i], true
}

// Defs returns every definition, sorted by name. The slice is the
// caller's.
func (t *Table) Defs() []Def { return slices.Clone(t.defs) }

// Names returns every config name, sorted. The slice is the caller's.
func (t *Table) Names() []string {
	names := make([]string, len(t.defs))
	for i, d := range t.defs {
		names[i] = d.Name
	}
	return names
}

// Parse parses s, Kafka's string form of a value for the named config, and
// checks it against the config's type and rule. It returns a *ValueError
// wrapping ErrUnknownConfig, ErrWrongType or ErrInvalidValue on failure.
func (t *Table) Parse(name, s string) (Value, error) {
	d, ok := t.Lookup(name)
	if !ok {
		return Value{}, t.unknown(name)
	}
	return d.Parse(s)
}

// Check checks a value for the named config. It returns nil or a
// *ValueError.
func (t *Table) Check(name string, v Value) error {
	d, ok := t.Lookup(name)
	if !ok {
		return t.unknown(name)
	}
	return d.Check(v)
}

func (t *Table) unknown(name string) *ValueError {
	reason := "unknown " + t.kind + " config"
	if s := suggest(name, t.Names()); s != "" {
		reason += fmt.Sprintf(" (did you mean %q?)", s)
	}
	return &ValueError{Name: name, Reason: reason, Err: ErrUnknownConfig}
}

// ParseTopicValue parses s, Kafka's string form of a value for the named
// topic config (as CreateTopics and AlterConfigs carry it), and checks it.
// It returns a *ValueError on failure.
func ParseTopicValue(name, s string) (Value, error) { return topicTable.Parse(name, s) }

// ParseBrokerValue parses s, Kafka's string form of a value for the named
// broker config, and checks it. It returns a *ValueError on failure.
func ParseBrokerValue(name, s string) (Value, error) { return brokerTable.Parse(name, s) }

// TopicTable returns the definitions of every topic config.
func TopicTable() *Table { return topicTable }

// BrokerTable returns the definitions of every broker config.
func BrokerTable() *Table { return brokerTable }

// Constants used in the tables, in Kafka's string form.
const (
	maxInt    = "2147483647"
	maxLong   = "9223372036854775807"
	maxDouble = "1.7976931348623157E308"
)

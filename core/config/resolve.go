package config

import "slices"

// Source says where a config's value comes from. The numbers are Kafka's
// DescribeConfigs ConfigSource values, so a handler can send them as they
// are.
type Source int8

const (
	// SourceTopic: a per-topic override (CreateTopics, AlterConfigs).
	SourceTopic Source = 1
	// SourceStatic: set in weir.toml ([broker] or [topic_defaults]).
	SourceStatic Source = 4
	// SourceDefault: the table's default; nothing set it.
	SourceDefault Source = 5
)

func (s Source) String() string {
	switch s {
	case SourceTopic:
		return "topic"
	case SourceStatic:
		return "static"
	case SourceDefault:
		return "default"
	}
	return "unknown"
}

// Entry is one config with its resolved value and where the value came
// from, as DescribeConfigs lists it.
type Entry struct {
	Name   string
	Value  Value
	Source Source
	Def    Def
}

// IsDefault reports whether nothing set the config.
func (e Entry) IsDefault() bool { return e.Source == SourceDefault }

// layer is one level of config values, looked up by definition.
type layer struct {
	source Source
	lookup func(d Def) (Value, bool)
}

func mapLayer(source Source, m map[string]Value) layer {
	return layer{source: source, lookup: func(d Def) (Value, bool) {
		v, ok := m[d.Name]
		return v, ok
	}}
}

// resolve lists every config of t with the value of the last layer that
// sets it, checking every value a layer supplies. It returns the first
// problem as a *ValueError.
func resolve(t *Table, layers ...layer) ([]Entry, error) {
	entries := make([]Entry, len(t.defs))
	for i, d := range t.defs {
		e := Entry{Name: d.Name, Value: d.Default, Source: SourceDefault, Def: d}
		for _, l := range layers {
			v, ok := l.lookup(d)
			if !ok {
				continue
			}
			if err := d.Check(v); err != nil {
				return nil, err
			}
			e.Value, e.Source = v, l.source
		}
		entries[i] = e
	}
	return entries, nil
}

// knownNames checks that every key of m names a config of t, in name order.
func knownNames[V any](t *Table, m map[string]V) error {
	for _, name := range sortedKeys(m) {
		if _, ok := t.Lookup(name); !ok {
			return t.unknown(name)
		}
	}
	return nil
}

// getter returns a lookup of resolved values by name for newTopic and
// newBroker; a name not in the table gives the zero Value.
func getter(t *Table, entries []Entry) func(string) Value {
	return func(name string) Value {
		if i, ok := t.index[name]; ok {
			return entries[i].Value
		}
		return Value{}
	}
}

// parseOverrides parses per-topic overrides given in Kafka's string form.
func parseOverrides(overrides map[string]string) (map[string]Value, error) {
	if err := knownNames(topicTable, overrides); err != nil {
		return nil, err
	}
	parsed := make(map[string]Value, len(overrides))
	for _, name := range sortedKeys(overrides) {
		v, err := topicTable.Parse(name, overrides[name])
		if err != nil {
			return nil, err
		}
		parsed[name] = v
	}
	return parsed, nil
}

// topicLayers returns the layers a topic's configs resolve through: the
// [broker] settings that are topic defaults under another name, then
// [topic_defaults], then the topic's own overrides.
func (c *Config) topicLayers(overrides map[string]Value) []layer {
	synonyms := layer{source: SourceStatic, lookup: func(d Def) (Value, bool) {
		if _, ok := brokerTable.Lookup(d.BrokerSynonym); !ok {
			return Value{}, false
		}
		v, ok := c.Broker[d.BrokerSynonym]
		return v, ok
	}}
	return []layer{synonyms, mapLayer(SourceStatic, c.TopicDefaults), mapLayer(SourceTopic, overrides)}
}

// DescribeTopic lists every topic config, in name order, with the value a
// topic with the given overrides (Kafka names → Kafka string form) has and
// where that value comes from. It returns a *ValueError for an unknown or
// bad override (the first, in name order), for a bad value in c, or for
// values that conflict. The slice is the caller's. Safe for concurrent use
// while c is not modified.
func (c *Config) DescribeTopic(overrides map[string]string) ([]Entry, error) {
	parsed, err := parseOverrides(overrides)
	if err != nil {
		return nil, err
	}
	entries, err := c.describeTopic(parsed)
	if err != nil {
		return nil, err
	}
	if verr := checkRelations(topicTable, topicRelations, entries); verr != nil {
		return nil, verr
	}
	return entries, nil
}

func (c *Config) describeTopic(overrides map[string]Value) ([]Entry, error) {
	if err := knownNames(topicTable, c.TopicDefaults); err != nil {
		return nil, err
	}
	return resolve(topicTable, c.topicLayers(overrides)...)
}

// ResolveTopic returns the configuration of a topic with the given
// overrides (Kafka names → Kafka string form, as CreateTopics and
// AlterConfigs carry them): Kafka's defaults, then the [broker] settings
// that are topic defaults (min.insync.replicas, ...), then
// [topic_defaults], then the overrides. It returns a *ValueError for an
// unknown or bad override (the first, in name order), for a bad value in c,
// or for values that conflict (min.compaction.lag.ms above
// max.compaction.lag.ms). Safe for concurrent use while c is not modified.
func (c *Config) ResolveTopic(overrides map[string]string) (Topic, error) {
	entries, err := c.DescribeTopic(overrides)
	if err != nil {
		return Topic{}, err
	}
	return newTopic(getter(topicTable, entries)), nil
}

// DescribeBroker lists every broker config, in name order, with its value
// and whether weir.toml set it. It returns a *ValueError for an unknown or
// bad value in c, or for values that conflict. The slice is the caller's.
func (c *Config) DescribeBroker() ([]Entry, error) {
	if err := knownNames(brokerTable, c.Broker); err != nil {
		return nil, err
	}
	entries, err := resolve(brokerTable, mapLayer(SourceStatic, c.Broker))
	if err != nil {
		return nil, err
	}
	if verr := checkRelations(brokerTable, brokerRelations, entries); verr != nil {
		return nil, verr
	}
	return entries, nil
}

// ResolveBroker returns the broker configuration: Kafka's defaults with
// [broker] on top. It returns a *ValueError as DescribeBroker does; a
// Config that passed Validate resolves without error.
func (c *Config) ResolveBroker() (Broker, error) {
	entries, err := c.DescribeBroker()
	if err != nil {
		return Broker{}, err
	}
	return newBroker(getter(brokerTable, entries)), nil
}

// relation is a rule between two integer configs of one table: lo ≤ hi,
// or lo < hi when strict.
type relation struct {
	lo, hi string
	strict bool
}

// checkRelations returns a *ValueError for the first relation the entries
// break, naming whichever of its two configs was set more specifically (a
// topic override over weir.toml over a default), or nil.
func checkRelations(t *Table, rels []relation, entries []Entry) *ValueError {
	get := getter(t, entries)
	for _, r := range rels {
		lo, hi := get(r.lo), get(r.hi)
		if lo.Long() < hi.Long() || (!r.strict && lo.Long() == hi.Long()) {
			continue
		}
		e := &ValueError{Name: r.lo, Value: lo.String(), Err: ErrInvalidValue}
		if entries[t.index[r.hi]].Source < entries[t.index[r.lo]].Source {
			e.Name, e.Value = r.hi, hi.String()
			e.Reason = "must not be below " + r.lo + " (" + lo.String() + ")"
			if r.strict {
				e.Reason = "must be greater than " + r.lo + " (" + lo.String() + ")"
			}
			return e
		}
		e.Reason = "must not exceed " + r.hi + " (" + hi.String() + ")"
		if r.strict {
			e.Reason = "must be less than " + r.hi + " (" + hi.String() + ")"
		}
		return e
	}
	return nil
}

// sortedKeys returns the keys of m in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

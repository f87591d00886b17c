package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/pelletier/go-toml/v2"
)

// The decoder works in two passes over the document. go-toml decodes it
// into generic maps, which checks everything TOML itself requires
// (syntax, no key defined twice, integers that fit 64 bits). indexLines
// then maps every key to its line. The decoder walks the maps against
// Weir's schema, converting values to their types and reporting unknown
// keys and wrong types with their lines; validate then checks the values
// themselves, with the same line lookup.

// field names one setting the way a user finds it in the file, and is the
// key under which its line is kept.
type field struct {
	section string // "", "listeners", "cluster", "broker", "topic_defaults", "plugins", "bridge" or "bridge.nats"
	elem    int    // 1-based [[plugins]] or [[bridge.nats]] entry; 0 for none
	key     string // key within the section (Kafka name in broker/topic_defaults); "" for the section itself
	item    int    // 1-based element of an array value (voters); 0 for none
}

// String renders the field for messages: node_id, [listeners] kafka,
// [broker] "num.partitions", [[plugins]] #2 kind, [cluster] voters #3.
func (f field) String() string {
	var b strings.Builder
	switch {
	case f.section == "plugins" || f.section == natsSection:
		b.WriteString("[[" + f.section + "]]")
		if f.elem > 0 {
			b.WriteString(" #" + strconv.Itoa(f.elem))
		}
	case f.section != "":
		b.WriteString("[" + f.section + "]")
	}
	if f.key != "" {
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		if f.section == "broker" || f.section == "topic_defaults" || !isBareKey(f.key) {
			b.WriteString(strconv.Quote(f.key))
		} else {
			b.WriteString(f.key)
		}
	}
	if f.item > 0 {
		b.WriteString(" #" + strconv.Itoa(f.item))
	}
	return b.String()
}

func isBareKey(k string) bool {
	if k == "" {
		return false
	}
	for _, c := range []byte(k) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// locator places problems in the file a Config came from. A nil *locator
// places nothing (Validate on a Config built in code).
type locator struct {
	source string
	lines  map[field]int
	failed map[field]bool // fields the decoder already reported
	// failedIn holds the sections ("broker", ...) and [[plugins]] entries
	// ("plugins #2") in which the decoder reported anything.
	failedIn map[string]bool
	// votersDerived is set when the file does not list voters: they are
	// then node_id at the controller listener, checked under those keys.
	votersDerived bool
}

// line returns the line of f, or failing that of its enclosing array
// element, table entry or section; 0 if unknown.
func (w *locator) line(f field) int {
	if w == nil {
		return 0
	}
	for _, g := range []field{f, {f.section, f.elem, f.key, 0}, {f.section, f.elem, "", 0}, {"", 0, f.section, 0}} {
		if l, ok := w.lines[g]; ok {
			return l
		}
	}
	return 0
}

// problem builds an Error for f. value is the value rendered as TOML, or "".
func (w *locator) problem(f field, value string, class error, reason string) *Error {
	e := &Error{Line: w.line(f), Key: f.String(), Value: value, Reason: reason, Err: class}
	if w != nil {
		e.Source = w.source
	}
	return e
}

// reported says whether the decoder already reported a problem with f (or
// with the array f is an element of), so validate need not.
func (w *locator) reported(f field) bool {
	if w == nil {
		return false
	}
	return w.failed[f] || w.failed[field{f.section, f.elem, f.key, 0}]
}

// elemFailed says whether the decoder reported a problem in [[plugins]]
// entry elem (such as an unknown key, likely a misspelt required one).
func (w *locator) elemFailed(elem int) bool {
	return w != nil && w.failedIn["plugins #"+strconv.Itoa(elem)]
}

// sectionFailed says whether the decoder reported a problem in a section
// or with the section itself.
func (w *locator) sectionFailed(section string) bool {
	return w != nil && w.failedIn[section]
}

// maxDocument bounds the size of a configuration document. Real ones are
// a few KiB; the bound turns a wrong --config path (a log, a binary) into a
// quick error, since go-toml's generic decoding slows with the square of
// the keys in a table.
const maxDocument = 1 << 20

func parse(data []byte, source string) (*Config, error) {
	if len(data) > maxDocument {
		return nil, ErrorList{{Source: source, Err: ErrSyntax,
			Reason: fmt.Sprintf("%d bytes is too large for a configuration file (at most %d)", len(data), maxDocument)}}
	}
	var doc map[string]any
	if err := toml.Unmarshal(data, &doc); err != nil {
		return nil, ErrorList{syntaxError(source, err)}
	}
	d := &decoder{
		index: indexLines(data),
		w: &locator{
			source:   source,
			lines:    map[field]int{},
			failed:   map[field]bool{},
			failedIn: map[string]bool{},
		},
	}
	c := Default()
	d.decode(doc, c)
	errs := append(d.errs, c.validate(d.w)...)
	if len(errs) > 0 {
		errs.sortByLine()
		return nil, errs
	}
	return c, nil
}

func syntaxError(source string, err error) *Error {
	e := &Error{Source: source, Reason: err.Error(), Err: ErrSyntax}
	var de *toml.DecodeError
	if errors.As(err, &de) {
		e.Line, e.Column = de.Position()
		e.Reason = strings.TrimPrefix(de.Error(), "toml: ")
	}
	e.Reason = "invalid TOML: " + e.Reason
	return e
}

type decoder struct {
	index map[string]int // key path → line (indexLines)
	w     *locator
	errs  ErrorList
}

// at records the line of f, found under key path p, and returns f.
func (d *decoder) at(f field, p string) field {
	if _, ok := d.w.lines[f]; !ok {
		if l, ok := d.index[p]; ok {
			d.w.lines[f] = l
		}
	}
	return f
}

func (d *decoder) fail(f field, value string, class error, reason string) {
	d.markFailed(f)
	d.errs = append(d.errs, d.w.problem(f, value, class, reason))
}

// markFailed notes that f has been reported, so validate skips it.
func (d *decoder) markFailed(f field) {
	d.w.failed[f] = true
	switch {
	case f.elem > 0:
		d.w.failedIn[f.section+" #"+strconv.Itoa(f.elem)] = true
	case f.section != "":
		d.w.failedIn[f.section] = true
	default:
		d.w.failedIn[f.key] = true // the section itself, e.g. broker = 1
	}
}

// value converts x to type t, reporting a problem with f on failure.
func (d *decoder) value(f field, x any, t Type) (Value, bool) {
	v, reason, class := fromTOML(t, x)
	if class != nil {
		d.fail(f, displayTOML(x), class, reason)
		return Value{}, false
	}
	return v, true
}

func (d *decoder) str(f field, x any) (string, bool) {
	v, ok := d.value(f, x, TypeString)
	return v.String(), ok
}

// table returns x as a table, reporting a problem with f if it is not one.
func (d *decoder) table(f field, x any) (map[string]any, bool) {
	t, ok := x.(map[string]any)
	if !ok {
		d.fail(f, displayTOML(x), ErrWrongType, "expected a table, got "+tomlTypeName(x))
	}
	return t, ok
}

// unknown reports a key that is not in the schema. hint, when set, says
// where the key belongs; otherwise a close known key is suggested.
func (d *decoder) unknown(f field, x any, what string, known []string, hint string) {
	reason := "unknown " + what
	if len(d.errs) < maxErrors { // past what the message spells out, skip the search
		reason += unknownHint(f.key, known, hint)
	}
	d.fail(f, displayTOML(x), ErrUnknownConfig, reason)
}

func unknownHint(key string, known []string, hint string) string {
	if hint != "" {
		return "; " + hint
	}
	if s := suggest(key, known); s != "" {
		return fmt.Sprintf(" (did you mean %q?)", s)
	}
	if len(known) <= len(topLevelKeys) {
		return " (expected " + strings.Join(known, ", ") + ")"
	}
	return ""
}

var topLevelKeys = []string{"node_id", "data_dir", "listeners", "cluster", "broker", "topic_defaults", "plugins", "bridge"}

func (d *decoder) decode(doc map[string]any, c *Config) {
	votersSet := false
	for _, k := range sortedKeys(doc) {
		x, p := doc[k], keyPath("", k)
		f := d.at(field{key: k}, p)
		switch k {
		case "node_id":
			if v, ok := d.value(f, x, TypeInt); ok {
				c.NodeID = v.Int()
			}
		case "data_dir":
			if s, ok := d.str(f, x); ok {
				c.DataDir = s
			}
		case "listeners":
			d.listeners(x, p, &c.Listeners)
		case "cluster":
			votersSet = d.cluster(x, p, &c.Cluster)
		case "broker":
			c.Broker = d.settings(brokerTable, "broker", x, p)
		case "topic_defaults":
			c.TopicDefaults = d.settings(topicTable, "topic_defaults", x, p)
		case "plugins":
			c.Plugins = d.plugins(x, p)
		case "bridge":
			d.bridge(x, p, &c.Bridge)
		default:
			d.unknown(f, x, "key", topLevelKeys, topLevelHint(k))
		}
	}
	if !votersSet {
		c.Cluster.Voters = []Voter{{ID: c.NodeID, Addr: c.Listeners.Controller}}
		d.w.votersDerived = true
	}
	c.votersDerived = !votersSet
}

// topLevelHint says where a misplaced top-level key belongs.
func topLevelHint(k string) string {
	switch k {
	case "kafka", "controller", "http":
		return "listener addresses go under [listeners]"
	case "voters":
		return "voters go under [cluster]"
	case "nats":
		return "NATS bridge routes are [[bridge.nats]] entries"
	}
	if _, ok := brokerTable.Lookup(k); ok {
		return "Kafka broker settings go under [broker]"
	}
	if _, ok := topicTable.Lookup(k); ok {
		return "Kafka topic configs go under [topic_defaults]"
	}
	return ""
}

var listenerKeys = []string{"kafka", "controller", "http"}

func (d *decoder) listeners(x any, p string, l *Listeners) {
	t, ok := d.table(field{key: "listeners"}, x)
	if !ok {
		return
	}
	for _, k := range sortedKeys(t) {
		f := d.at(field{section: "listeners", key: k}, keyPath(p, k))
		var dst *string
		switch k {
		case "kafka":
			dst = &l.Kafka
		case "controller":
			dst = &l.Controller
		case "http":
			dst = &l.HTTP
		default:
			d.unknown(f, t[k], "listener", listenerKeys, "")
			continue
		}
		if s, ok := d.str(f, t[k]); ok {
			*dst = s
		}
	}
}

// cluster decodes [cluster] and reports whether it set the voters.
func (d *decoder) cluster(x any, p string, c *Cluster) bool {
	t, ok := d.table(field{key: "cluster"}, x)
	if !ok {
		return false
	}
	set := false
	for _, k := range sortedKeys(t) {
		kp := keyPath(p, k)
		f := d.at(field{section: "cluster", key: k}, kp)
		if k != "voters" {
			d.unknown(f, t[k], "key in [cluster]", []string{"voters"}, "")
			continue
		}
		set = true
		list, ok := t[k].([]any)
		if !ok {
			d.fail(f, displayTOML(t[k]), ErrWrongType, `expected an array of "id@host:port" strings, got `+tomlTypeName(t[k]))
			continue
		}
		voters := make([]Voter, 0, len(list))
		for i, el := range list {
			ef := d.at(field{section: "cluster", key: k, item: i + 1}, elemPath(kp, i))
			s, ok := el.(string)
			if !ok {
				d.fail(ef, displayTOML(el), ErrWrongType, `expected an "id@host:port" string, got `+tomlTypeName(el))
				continue
			}
			v, reason := parseVoter(s)
			if reason != "" {
				d.fail(ef, displayTOML(el), ErrInvalidValue, reason)
				continue
			}
			voters = append(voters, v)
		}
		c.Voters = voters
	}
	return set
}

// settings decodes [broker] or [topic_defaults]: Kafka names, each checked
// for its type. Keys may be quoted ("num.partitions" = 1) or dotted
// (num.partitions = 1, which TOML nests); both are flattened to the Kafka
// name.
func (d *decoder) settings(tbl *Table, section string, x any, p string) map[string]Value {
	out := map[string]Value{}
	if t, ok := d.table(field{key: section}, x); ok {
		d.flatten(tbl, section, t, "", p, out)
	}
	return out
}

func (d *decoder) flatten(tbl *Table, section string, t map[string]any, prefix, p string, out map[string]Value) {
	for _, k := range sortedKeys(t) {
		name, kp, x := k, keyPath(p, k), t[k]
		if prefix != "" {
			name = prefix + "." + k
		}
		if sub, ok := x.(map[string]any); ok && len(sub) > 0 {
			if _, known := tbl.Lookup(name); !known {
				d.flatten(tbl, section, sub, name, kp, out)
				continue
			}
		}
		f := field{section: section, key: name}
		if first, dup := d.w.lines[f]; dup {
			e := d.w.problem(f, displayTOML(x), ErrInvalidValue,
				fmt.Sprintf("set twice: also on line %d (once as a dotted key, once quoted)", first))
			if l, ok := d.index[kp]; ok {
				e.Line = l
			}
			d.markFailed(f)
			d.errs = append(d.errs, e)
			continue
		}
		d.at(f, kp)
		def, ok := tbl.Lookup(name)
		if !ok {
			d.unknown(f, x, tbl.kind+" config", tbl.Names(), settingHint(tbl, name))
			continue
		}
		if v, ok := d.value(f, x, def.Type); ok {
			out[name] = v
		}
	}
}

// settingHint says where a config set in the wrong table belongs.
func settingHint(tbl *Table, name string) string {
	if tbl == brokerTable {
		if _, ok := topicTable.Lookup(name); ok {
			return fmt.Sprintf("%q is a topic config: set it under [topic_defaults]", name)
		}
		if t := topicForSynonym(name); t != "" {
			return fmt.Sprintf("Kafka's broker setting %q is the default of topic config %q: set %q under [topic_defaults]", name, t, t)
		}
		return ""
	}
	if t := topicForSynonym(name); t != "" {
		return fmt.Sprintf("%q is Kafka's broker name for it: use the topic config name %q", name, t)
	}
	if _, ok := brokerTable.Lookup(name); ok {
		return fmt.Sprintf("%q is a broker config: set it under [broker]", name)
	}
	return ""
}

// topicForSynonym returns the topic config whose broker synonym is name, if
// that synonym is not itself a broker config Weir reads.
func topicForSynonym(name string) string {
	if _, ok := brokerTable.Lookup(name); ok {
		return ""
	}
	for _, def := range topicTable.defs {
		if def.BrokerSynonym == name && def.Name != name {
			return def.Name
		}
	}
	return ""
}

var pluginKeys = []string{"name", "kind", "wasm", "command", "config"}

func (d *decoder) plugins(x any, p string) []Plugin {
	list, ok := x.([]any)
	if !ok {
		d.fail(field{key: "plugins"}, displayTOML(x), ErrWrongType,
			"expected [[plugins]] entries (an array of tables), got "+tomlTypeName(x))
		return nil
	}
	plugins := make([]Plugin, 0, len(list))
	for i, el := range list {
		ep := elemPath(p, i)
		ef := d.at(field{section: "plugins", elem: i + 1}, ep)
		t, ok := el.(map[string]any)
		if !ok {
			d.fail(ef, displayTOML(el), ErrWrongType, "expected a table, got "+tomlTypeName(el))
			continue
		}
		var pl Plugin
		for _, k := range sortedKeys(t) {
			f := d.at(field{section: "plugins", elem: i + 1, key: k}, keyPath(ep, k))
			switch k {
			case "name":
				pl.Name, _ = d.str(f, t[k])
			case "kind":
				s, _ := d.str(f, t[k])
				pl.Kind = PluginKind(s)
			case "wasm":
				pl.WASM, _ = d.str(f, t[k])
			case "command":
				pl.Command, _ = d.str(f, t[k])
			case "config":
				pl.Config, _ = d.table(f, t[k])
			default:
				d.unknown(f, t[k], "plugin key", pluginKeys, "")
			}
		}
		plugins = append(plugins, pl)
	}
	return plugins
}

package config

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
)

// validator collects the problems with a Config's values. Parse runs it
// with the file's locator, Validate without one.
type validator struct {
	w    *locator
	errs ErrorList
}

func (v *validator) add(f field, value string, class error, reason string) {
	if v.w.reported(f) {
		return
	}
	v.errs = append(v.errs, v.w.problem(f, value, class, reason))
}

func (c *Config) validate(w *locator) ErrorList {
	v := &validator{w: w}
	if c.NodeID < 0 {
		v.add(field{key: "node_id"}, strconv.Itoa(int(c.NodeID)), ErrInvalidValue, "must be at least 0")
	}
	if strings.TrimSpace(c.DataDir) == "" {
		v.add(field{key: "data_dir"}, strconv.Quote(c.DataDir), ErrInvalidValue, "must name a directory")
	}
	v.listeners(c.Listeners)
	v.voters(c.Cluster.Voters)
	brokerOK := v.settings(brokerTable, "broker", c.Broker)
	topicOK := v.settings(topicTable, "topic_defaults", c.TopicDefaults)
	if brokerOK {
		v.brokerRelations(c)
	}
	if brokerOK && topicOK {
		v.topicRelations(c)
	}
	v.plugins(c)
	v.bridge(c)
	return v.errs
}

func (v *validator) listeners(l Listeners) {
	seen := map[string]string{}
	for _, a := range []struct{ key, addr string }{{"kafka", l.Kafka}, {"controller", l.Controller}, {"http", l.HTTP}} {
		f := field{section: "listeners", key: a.key}
		if reason := checkAddr(a.addr); reason != "" {
			v.add(f, strconv.Quote(a.addr), ErrInvalidValue, reason)
			continue
		}
		if _, port, _ := net.SplitHostPort(a.addr); port == "0" {
			continue // each port-0 listener gets its own free port
		}
		if other, dup := seen[a.addr]; dup {
			v.add(f, strconv.Quote(a.addr), ErrInvalidValue, "same address as [listeners] "+other+"; each listener needs its own port")
			continue
		}
		seen[a.addr] = a.key
	}
}

func (v *validator) voters(voters []Voter) {
	if v.w != nil && v.w.votersDerived {
		return
	}
	f := field{section: "cluster", key: "voters"}
	if n := len(voters); n != 1 && n != 3 && n != 5 {
		list := make([]any, n)
		for i, vt := range voters {
			list[i] = vt.String()
		}
		reason := fmt.Sprintf("must list 1, 3 or 5 controller voters, not %d", n)
		if n == 2 || n == 4 {
			reason += " (an even count tolerates no more failures than one voter fewer)"
		}
		v.add(f, displayTOML(list), ErrInvalidValue, reason)
	}
	ids := map[int32]int{}
	addrs := map[string]int{}
	for i, vt := range voters {
		ef := field{section: "cluster", key: "voters", item: i + 1}
		val := strconv.Quote(vt.String())
		switch j, dup := ids[vt.ID]; {
		case vt.ID < 0:
			v.add(ef, val, ErrInvalidValue, "voter id must be at least 0")
		case dup:
			v.add(ef, val, ErrInvalidValue, fmt.Sprintf("voter id %d is also voter #%d; ids must be unique", vt.ID, j))
		default:
			ids[vt.ID] = i + 1
		}
		if reason := checkAddr(vt.Addr); reason != "" {
			v.add(ef, val, ErrInvalidValue, "voter address: "+reason)
			continue
		}
		if _, port, _ := net.SplitHostPort(vt.Addr); port == "0" {
			continue
		}
		if j, dup := addrs[vt.Addr]; dup {
			v.add(ef, val, ErrInvalidValue, fmt.Sprintf("address %s is also voter #%d's; each voter needs its own", vt.Addr, j))
			continue
		}
		addrs[vt.Addr] = i + 1
	}
}

// settings checks every value of [broker] or [topic_defaults] against its
// definition and reports whether the section is sound enough to check the
// relations between its values.
func (v *validator) settings(tbl *Table, section string, m map[string]Value) bool {
	ok := !v.w.sectionFailed(section)
	for _, name := range sortedKeys(m) {
		f := field{section: section, key: name}
		def, known := tbl.Lookup(name)
		if !known {
			v.add(f, m[name].toml(), ErrUnknownConfig, tbl.unknown(name).Reason)
			ok = false
			continue
		}
		if reason, class := def.check(m[name]); class != nil {
			v.add(f, m[name].toml(), class, reason)
			ok = false
		}
	}
	return ok
}

func (v *validator) brokerRelations(c *Config) {
	_, err := c.ResolveBroker()
	var ve *ValueError
	if errors.As(err, &ve) {
		shown := ""
		if val, ok := c.Broker[ve.Name]; ok {
			shown = val.toml()
		}
		v.add(field{section: "broker", key: ve.Name}, shown, ve.Err, ve.Reason)
	}
}

func (v *validator) topicRelations(c *Config) {
	for _, def := range topicTable.defs {
		tv, inTopic := c.TopicDefaults[def.Name]
		bv, inBroker := c.Broker[def.BrokerSynonym]
		if !inTopic || !inBroker || tv.Equal(bv) {
			continue
		}
		bf := field{section: "broker", key: def.BrokerSynonym}
		where := ""
		if l := v.w.line(bf); l > 0 {
			where = fmt.Sprintf(" (line %d)", l)
		}
		v.add(field{section: "topic_defaults", key: def.Name}, tv.toml(), ErrInvalidValue,
			fmt.Sprintf("conflicts with %s = %s%s; set it in one place", bf, bv.toml(), where))
	}
	entries, err := c.describeTopic(nil)
	if err != nil {
		return // reported by settings
	}
	ve := checkRelations(topicTable, topicRelations, entries)
	if ve == nil {
		return
	}
	f := field{section: "topic_defaults", key: ve.Name}
	val, ok := c.TopicDefaults[ve.Name]
	if def, _ := topicTable.Lookup(ve.Name); !ok && def.BrokerSynonym != "" {
		if bv, inBroker := c.Broker[def.BrokerSynonym]; inBroker {
			f, val = field{section: "broker", key: def.BrokerSynonym}, bv
		}
	}
	shown := ""
	if val.Type() != 0 {
		shown = val.toml()
	}
	v.add(f, shown, ve.Err, ve.Reason)
}

// pluginRefs are the configs that name a plugin — topic defaults and
// broker settings — with the kind the plugin must be.
var pluginRefs = []struct {
	section string // "topic_defaults" or "broker"
	config  string
	kind    PluginKind
}{
	{"topic_defaults", ConfigWeirPartitioner, PluginPartitioner},
	{"topic_defaults", ConfigWeirCompactionFilter, PluginCompactionFilter},
	{"broker", ConfigWeirGroupAssignor, PluginAssignor},
}

func (v *validator) plugins(c *Config) {
	names := map[string]int{}
	for i, p := range c.Plugins {
		el := i + 1
		if v.w.elemFailed(el) {
			continue // a misspelt key would also be reported missing
		}
		ef := field{section: "plugins", elem: el}
		nf := field{section: "plugins", elem: el, key: "name"}
		switch j, dup := names[p.Name]; {
		case p.Name == "":
			if !v.w.reported(nf) {
				v.add(ef, "", ErrInvalidValue, `needs a name = "..." for topic configs and groups to refer to it by`)
			}
		case dup:
			v.add(nf, strconv.Quote(p.Name), ErrInvalidValue, fmt.Sprintf("name also used by [[plugins]] #%d; names must be unique", j))
		default:
			names[p.Name] = el
		}
		kf := field{section: "plugins", elem: el, key: "kind"}
		switch {
		case p.Kind == "":
			if !v.w.reported(kf) {
				v.add(ef, "", ErrInvalidValue, "needs a kind: one of "+strings.Join(pluginKinds, ", "))
			}
		case !slices.Contains(pluginKinds, string(p.Kind)):
			v.add(kf, strconv.Quote(string(p.Kind)), ErrInvalidValue, "must be one of "+strings.Join(pluginKinds, ", "))
		}
		wf := field{section: "plugins", elem: el, key: "wasm"}
		cf := field{section: "plugins", elem: el, key: "command"}
		switch {
		case p.WASM != "" && p.Command != "":
			v.add(cf, strconv.Quote(p.Command), ErrInvalidValue,
				"a plugin is either a WASM module or a go-plugin command: set wasm or command, not both")
		case p.WASM == "" && p.Command == "" && !v.w.reported(wf) && !v.w.reported(cf):
			v.add(ef, "", ErrInvalidValue, `needs wasm = "path/to/module.wasm" or command = "path/to/executable"`)
		}
	}
	for _, ref := range pluginRefs {
		settings := c.TopicDefaults
		if ref.section == "broker" {
			settings = c.Broker
		}
		val, ok := settings[ref.config]
		if !ok {
			continue
		}
		for _, p := range c.Plugins {
			if p.Name == val.String() && p.Kind != ref.kind && p.Kind != "" {
				v.add(field{section: ref.section, key: ref.config}, val.toml(), ErrInvalidValue,
					fmt.Sprintf("plugin %q is a %s, not a %s", p.Name, p.Kind, ref.kind))
			}
		}
	}
}

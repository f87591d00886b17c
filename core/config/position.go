package config

import (
	"sort"
	"strconv"

	"github.com/pelletier/go-toml/v2/unstable"
)

// Key paths name a place in a TOML document independently of how it was
// written there (a [table] header, a dotted key, an inline table): each
// key part is appended quoted, each array element as [i]. The root is "".
// Quoting keeps "a.b" (one quoted key) apart from a.b (two parts).

func keyPath(parent, key string) string { return parent + "." + strconv.Quote(key) }

func elemPath(parent string, i int) string { return parent + "[" + strconv.Itoa(i) + "]" }

// indexLines maps the key path of every key, table and array element in a
// TOML document to the line where it is first written. It walks go-toml's
// AST, which keeps the position of every key. The document must already
// have decoded without error; if the parser still fails, the paths seen
// so far are returned and the rest have no line.
func indexLines(data []byte) map[string]int {
	x := &lineIndexer{
		lines:  make(map[string]int),
		arrays: make(map[string]int),
	}
	for i, c := range data {
		if c == '\n' {
			x.newlines = append(x.newlines, i)
		}
	}
	x.p.Reset(data)
	current := "" // the table the next key-values belong to
	for x.p.NextExpression() {
		e := x.p.Expression()
		switch e.Kind {
		case unstable.Table:
			current = x.header(e, false)
		case unstable.ArrayTable:
			current = x.header(e, true)
		case unstable.KeyValue:
			x.keyValue(current, e)
		}
	}
	return x.lines
}

type lineIndexer struct {
	p        unstable.Parser
	newlines []int          // offsets of '\n' in the document
	lines    map[string]int // key path → line
	arrays   map[string]int // key path of an array of tables → elements so far
}

// line returns the 1-based line of a byte offset.
func (x *lineIndexer) line(offset uint32) int {
	return 1 + sort.SearchInts(x.newlines, int(offset))
}

func (x *lineIndexer) record(path string, line int) {
	if _, ok := x.lines[path]; !ok && line > 0 {
		x.lines[path] = line
	}
}

// header handles a [table] or [[array]] header and returns the path of the
// table that the key-values after it belong to. A key part naming an array
// of tables refers to its latest element, as in TOML.
func (x *lineIndexer) header(e *unstable.Node, array bool) string {
	path := ""
	it := e.Key()
	for it.Next() {
		k := it.Node()
		line := x.line(k.Raw.Offset)
		path = keyPath(path, string(k.Data))
		x.record(path, line)
		if array && it.IsLast() {
			n := x.arrays[path]
			x.arrays[path] = n + 1
			path = elemPath(path, n)
			x.record(path, line)
		} else if n := x.arrays[path]; n > 0 {
			path = elemPath(path, n-1)
		}
	}
	return path
}

// keyValue records a key-value's (possibly dotted) key under table, then
// everything inside its value.
func (x *lineIndexer) keyValue(table string, e *unstable.Node) {
	path := table
	it := e.Key()
	for it.Next() {
		k := it.Node()
		path = keyPath(path, string(k.Data))
		x.record(path, x.line(k.Raw.Offset))
	}
	x.value(path, e.Value())
}

// value records the contents of an inline table or array at path.
func (x *lineIndexer) value(path string, v *unstable.Node) {
	switch v.Kind {
	case unstable.InlineTable:
		it := v.Children()
		for it.Next() {
			if kv := it.Node(); kv.Kind == unstable.KeyValue {
				x.keyValue(path, kv)
			}
		}
	case unstable.Array:
		i := 0
		it := v.Children()
		for it.Next() {
			el := it.Node()
			if el.Kind == unstable.Comment {
				continue
			}
			p := elemPath(path, i)
			if el.Raw.Length > 0 { // scalars and inline tables; arrays have no position
				x.record(p, x.line(el.Raw.Offset))
			}
			x.value(p, el)
			i++
		}
	}
}

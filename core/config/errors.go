package config

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Error classes. Every error this package returns wraps exactly one of them,
// so callers can tell them apart with errors.Is (a request handler maps each
// to a Kafka error code, e.g. INVALID_CONFIG).
var (
	// ErrUnknownConfig: a key or config name that is not in the schema.
	ErrUnknownConfig = errors.New("unknown config")
	// ErrWrongType: a value of the wrong type, e.g. a float for an int config.
	ErrWrongType = errors.New("wrong type")
	// ErrInvalidValue: a value of the right type that is not allowed.
	ErrInvalidValue = errors.New("invalid value")
	// ErrSyntax: a document that is not TOML (or too large to be a config).
	ErrSyntax = errors.New("invalid TOML")
)

// Error is one problem with a configuration. Its message names the file and
// line when the configuration came from a file, then the key and value as
// written there, then what is wrong:
//
//	weir.toml:12: [topic_defaults] "segment.bytes" = 10: must be at least 14
type Error struct {
	Source string // the file name given to Load or Parse; "" if none
	Line   int    // 1-based line of the key; 0 when not known
	Column int    // 1-based column; set for TOML syntax errors only
	Key    string // the key as written, e.g. `[broker] "num.partitions"`; "" for syntax errors
	Value  string // the value rendered as TOML, e.g. `10` or `"lz5"`; "" if not relevant
	Reason string // what is wrong and, where it helps, what to do
	Err    error  // ErrUnknownConfig, ErrWrongType, ErrInvalidValue or ErrSyntax
}

func (e *Error) Error() string {
	var b strings.Builder
	switch {
	case e.Source != "" && e.Line > 0:
		b.WriteString(e.Source + ":" + strconv.Itoa(e.Line))
		if e.Column > 0 {
			b.WriteString(":" + strconv.Itoa(e.Column))
		}
		b.WriteString(": ")
	case e.Source != "":
		b.WriteString(e.Source + ": ")
	case e.Line > 0:
		b.WriteString("line " + strconv.Itoa(e.Line) + ": ")
	}
	if e.Key != "" {
		b.WriteString(e.Key)
		if e.Value != "" {
			b.WriteString(" = " + e.Value)
		}
		b.WriteString(": ")
	}
	b.WriteString(e.Reason)
	return b.String()
}

// Unwrap returns the error class.
func (e *Error) Unwrap() error { return e.Err }

// ErrorList is every problem found in one configuration, in line order.
// Parse, Load and Validate return one (as an error) when anything is wrong.
type ErrorList []*Error

// maxErrors bounds how many problems an ErrorList message spells out.
const maxErrors = 25

func (l ErrorList) Error() string {
	var b strings.Builder
	for i, e := range l {
		if i == maxErrors {
			fmt.Fprintf(&b, "\n... and %d more problems", len(l)-maxErrors)
			break
		}
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// Unwrap returns the individual errors, so errors.Is and errors.As see them.
func (l ErrorList) Unwrap() []error {
	errs := make([]error, len(l))
	for i, e := range l {
		errs[i] = e
	}
	return errs
}

// err returns l as an error, or nil when l is empty.
func (l ErrorList) err() error {
	if len(l) == 0 {
		return nil
	}
	return l
}

// sortByLine orders problems by line, keeping the order in which they were
// found among problems on the same line (and those with no line).
func (l ErrorList) sortByLine() {
	sort.SliceStable(l, func(i, j int) bool { return l[i].Line < l[j].Line })
}

// ValueError is a problem with one named config value given in Kafka's
// string form, as ParseTopicValue, ParseBrokerValue and ResolveTopic report
// it: an unknown name, a value of the wrong type or a value out of range.
type ValueError struct {
	Name   string // the config's Kafka name
	Value  string // the value as given; not set for an unknown name
	Reason string // e.g. "must be at least 14"
	Err    error  // ErrUnknownConfig, ErrWrongType or ErrInvalidValue
}

func (e *ValueError) Error() string {
	if e.Err == ErrUnknownConfig {
		return strconv.Quote(e.Name) + ": " + e.Reason
	}
	return strconv.Quote(e.Name) + " = " + strconv.Quote(e.Value) + ": " + e.Reason
}

// Unwrap returns the error class.
func (e *ValueError) Unwrap() error { return e.Err }

// suggest returns the candidate closest to name when it is close enough to
// be a likely typo, else "".
func suggest(name string, candidates []string) string {
	if name == "" || len(name) > 100 {
		return ""
	}
	lower := strings.ToLower(name)
	if len(lower) >= 3 {
		for _, c := range candidates {
			if strings.HasPrefix(c, lower) {
				return c // "node" for node_id, "retention" for retention.ms
			}
		}
	}
	best, bestDist := "", -1
	for _, c := range candidates {
		d := editDistance(lower, c)
		if bestDist < 0 || d < bestDist {
			best, bestDist = c, d
		}
	}
	limit := 2
	if n := utf8.RuneCountInString(name); n > 12 {
		limit = 3
	} else if n < 5 {
		limit = 1
	}
	if bestDist < 0 || bestDist > limit {
		return ""
	}
	return best
}

// editDistance is the number of single-byte insertions, deletions,
// substitutions and swaps of neighbours that turn a into b (the optimal
// string alignment distance).
func editDistance(a, b string) int {
	prev2 := make([]int, len(b)+1) // row i-2
	prev := make([]int, len(b)+1)  // row i-1
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(b)]
}

// displayTOML renders a value decoded by go-toml as short TOML, for messages.
func displayTOML(x any) string {
	var b strings.Builder
	writeTOML(&b, x)
	s := b.String()
	const limit = 60
	if utf8.RuneCountInString(s) > limit {
		r := []rune(s)
		s = string(r[:limit-3]) + "..."
	}
	return s
}

func writeTOML(b *strings.Builder, x any) {
	if b.Len() > 80 {
		b.WriteString("...")
		return
	}
	switch v := x.(type) {
	case string:
		b.WriteString(strconv.Quote(v))
	case int64:
		b.WriteString(strconv.FormatInt(v, 10))
	case float64:
		b.WriteString(tomlFloat(v))
	case bool:
		b.WriteString(strconv.FormatBool(v))
	case []any:
		b.WriteByte('[')
		for i, e := range v {
			if i > 0 {
				b.WriteString(", ")
			}
			if b.Len() > 80 {
				b.WriteString("...")
				break
			}
			writeTOML(b, e)
		}
		b.WriteByte(']')
	case map[string]any:
		b.WriteString("{...}")
	default:
		fmt.Fprint(b, v)
	}
}

package config

import (
	"math"
	"strconv"
	"strings"
)

// Type is the type of a config value. The numbers are the ones Kafka's
// DescribeConfigs response uses for a config's type (KIP-569), so a handler
// can send them as they are. Kafka's enumerated strings (compression.type,
// message.timestamp.type) are TypeString with a rule naming the valid values,
// as in Kafka.
type Type int8

// The config types Weir uses.
const (
	TypeBoolean Type = 1
	TypeString  Type = 2
	TypeInt     Type = 3 // 32-bit signed
	TypeShort   Type = 4 // 16-bit signed
	TypeLong    Type = 5 // 64-bit signed
	TypeDouble  Type = 6
	TypeList    Type = 7 // list of strings; Kafka's string form is comma-separated
)

// String returns Kafka's lower-case name of the type ("int", "long", ...).
func (t Type) String() string {
	switch t {
	case TypeBoolean:
		return "boolean"
	case TypeString:
		return "string"
	case TypeInt:
		return "int"
	case TypeShort:
		return "short"
	case TypeLong:
		return "long"
	case TypeDouble:
		return "double"
	case TypeList:
		return "list"
	}
	return "type(" + strconv.Itoa(int(t)) + ")"
}

// expected describes the type for "expected ..." messages.
func (t Type) expected() string {
	switch t {
	case TypeBoolean:
		return "a boolean (true or false)"
	case TypeString:
		return "a string"
	case TypeInt:
		return "an int (32-bit integer)"
	case TypeShort:
		return "a short (16-bit integer)"
	case TypeLong:
		return "a long (64-bit integer)"
	case TypeDouble:
		return "a double (number)"
	case TypeList:
		return `a list of strings (["a", "b"] or "a,b")`
	}
	return "a " + t.String()
}

// intBounds returns the range an integer type holds; ok is false for
// non-integer types.
func (t Type) intBounds() (lo, hi int64, ok bool) {
	switch t {
	case TypeShort:
		return math.MinInt16, math.MaxInt16, true
	case TypeInt:
		return math.MinInt32, math.MaxInt32, true
	case TypeLong:
		return math.MinInt64, math.MaxInt64, true
	}
	return 0, 0, false
}

// Value is one typed config value. The zero Value has no type and is never
// valid for a config. Values are immutable and safe for concurrent use.
type Value struct {
	typ  Type
	num  int64 // TypeBoolean (0 or 1), TypeShort, TypeInt, TypeLong
	dbl  float64
	str  string
	list []string // never modified after construction
}

// BoolValue returns a TypeBoolean value.
func BoolValue(b bool) Value {
	v := Value{typ: TypeBoolean}
	if b {
		v.num = 1
	}
	return v
}

// ShortValue returns a TypeShort value.
func ShortValue(n int16) Value { return Value{typ: TypeShort, num: int64(n)} }

// IntValue returns a TypeInt value.
func IntValue(n int32) Value { return Value{typ: TypeInt, num: int64(n)} }

// LongValue returns a TypeLong value.
func LongValue(n int64) Value { return Value{typ: TypeLong, num: n} }

// DoubleValue returns a TypeDouble value.
func DoubleValue(f float64) Value { return Value{typ: TypeDouble, dbl: f} }

// StringValue returns a TypeString value.
func StringValue(s string) Value { return Value{typ: TypeString, str: s} }

// ListValue returns a TypeList value holding a copy of items.
func ListValue(items ...string) Value {
	return Value{typ: TypeList, list: append([]string{}, items...)}
}

// Type returns the value's type; 0 for the zero Value.
func (v Value) Type() Type { return v.typ }

// Bool returns a TypeBoolean value; false for other types.
func (v Value) Bool() bool { return v.typ == TypeBoolean && v.num != 0 }

// Int returns a TypeShort or TypeInt value; 0 for other types.
func (v Value) Int() int32 {
	if v.typ == TypeShort || v.typ == TypeInt {
		return int32(v.num)
	}
	return 0
}

// Long returns a TypeShort, TypeInt or TypeLong value; 0 for other types.
func (v Value) Long() int64 {
	if _, _, ok := v.typ.intBounds(); ok {
		return v.num
	}
	return 0
}

// Double returns a TypeDouble value; 0 for other types.
func (v Value) Double() float64 {
	if v.typ == TypeDouble {
		return v.dbl
	}
	return 0
}

// List returns a copy of a TypeList value's items; nil for other types.
func (v Value) List() []string {
	if v.typ != TypeList {
		return nil
	}
	return append([]string{}, v.list...)
}

// String returns the value in Kafka's string form, the form DescribeConfigs
// reports and CreateTopics / AlterConfigs send: "true", "1048588", "0.5",
// "1.7976931348623157E308", "compact,delete". For a TypeString value it is
// the string itself.
func (v Value) String() string {
	switch v.typ {
	case TypeBoolean:
		return strconv.FormatBool(v.num != 0)
	case TypeShort, TypeInt, TypeLong:
		return strconv.FormatInt(v.num, 10)
	case TypeDouble:
		return javaDouble(v.dbl)
	case TypeString:
		return v.str
	case TypeList:
		return strings.Join(v.list, ",")
	}
	return ""
}

// Equal reports whether v and w have the same type and value.
func (v Value) Equal(w Value) bool {
	if v.typ != w.typ || v.num != w.num || v.str != w.str || len(v.list) != len(w.list) {
		return false
	}
	if v.dbl != w.dbl && !(math.IsNaN(v.dbl) && math.IsNaN(w.dbl)) {
		return false
	}
	for i := range v.list {
		if v.list[i] != w.list[i] {
			return false
		}
	}
	return true
}

// toml renders the value as TOML, for messages.
func (v Value) toml() string {
	switch v.typ {
	case TypeString:
		return strconv.Quote(v.str)
	case TypeDouble:
		return tomlFloat(v.dbl)
	case TypeList:
		items := make([]any, len(v.list))
		for i, s := range v.list {
			items[i] = s
		}
		return displayTOML(items)
	}
	return v.String()
}

// javaDouble formats f as Java's Double.toString does, which is how Kafka
// reports doubles: plain decimal with at least one fractional digit for
// magnitudes in [1e-3, 1e7), otherwise "d.dddE[-]n".
func javaDouble(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	case f == 0:
		if math.Signbit(f) {
			return "-0.0"
		}
		return "0.0"
	}
	if a := math.Abs(f); a >= 1e-3 && a < 1e7 {
		s := strconv.FormatFloat(f, 'f', -1, 64)
		if !strings.Contains(s, ".") {
			s += ".0"
		}
		return s
	}
	s := strconv.FormatFloat(f, 'E', -1, 64) // e.g. 1.7976931348623157E+308, 1E-05
	mant, exp, _ := strings.Cut(s, "E")
	if !strings.Contains(mant, ".") {
		mant += ".0"
	}
	neg := strings.HasPrefix(exp, "-")
	exp = strings.TrimLeft(exp, "+-")
	exp = strings.TrimLeft(exp, "0")
	if neg {
		exp = "-" + exp
	}
	return mant + "E" + exp
}

// tomlFloat renders f as a TOML float, for messages.
func tomlFloat(f float64) string {
	switch {
	case math.IsNaN(f):
		return "nan"
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	}
	s := strconv.FormatFloat(f, 'g', -1, 64)
	if !strings.ContainsAny(s, ".e") {
		s += ".0"
	}
	return s
}

// parseKafka parses s, Kafka's string form of a value of type t, the way
// Kafka's ConfigDef.parseType does: surrounding white space is ignored,
// booleans are case-insensitive, lists are split at commas (with white space
// around them ignored) and an empty string is an empty list. It checks the
// type only, not a config's rule. On failure it returns a reason and
// ErrWrongType.
func parseKafka(t Type, s string) (Value, string, error) {
	trimmed := strings.TrimSpace(s)
	switch t {
	case TypeBoolean:
		switch {
		case strings.EqualFold(trimmed, "true"):
			return BoolValue(true), "", nil
		case strings.EqualFold(trimmed, "false"):
			return BoolValue(false), "", nil
		}
	case TypeShort, TypeInt, TypeLong:
		lo, hi, _ := t.intBounds()
		n, err := strconv.ParseInt(trimmed, 10, 64)
		if err == nil && (n < lo || n > hi) {
			return Value{}, outOfRange(t), ErrInvalidValue
		}
		if err != nil {
			if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
				return Value{}, outOfRange(t), ErrInvalidValue
			}
			break
		}
		return Value{typ: t, num: n}, "", nil
	case TypeDouble:
		f, err := strconv.ParseFloat(trimmed, 64)
		if err != nil || math.IsNaN(f) {
			break
		}
		return DoubleValue(f), "", nil
	case TypeString:
		return StringValue(trimmed), "", nil
	case TypeList:
		if trimmed == "" {
			return ListValue(), "", nil
		}
		items := strings.Split(trimmed, ",")
		for i := range items {
			items[i] = strings.TrimSpace(items[i])
		}
		return Value{typ: TypeList, list: items}, "", nil
	}
	return Value{}, "expected " + t.expected(), ErrWrongType
}

func outOfRange(t Type) string {
	lo, hi, _ := t.intBounds()
	return "out of range for " + t.expected() + ": must be between " +
		strconv.FormatInt(lo, 10) + " and " + strconv.FormatInt(hi, 10)
}

// fromTOML converts a value decoded from TOML into a Value of type t. It
// checks the type only. Integers must fit the type; a float is not an
// integer; an integer is a valid double; a list may be a TOML array of
// strings or Kafka's comma-separated string. Strings are never converted to
// numbers or booleans. On failure it returns a reason and the error class.
func fromTOML(t Type, x any) (Value, string, error) {
	switch t {
	case TypeBoolean:
		if b, ok := x.(bool); ok {
			return BoolValue(b), "", nil
		}
	case TypeShort, TypeInt, TypeLong:
		if n, ok := x.(int64); ok {
			if lo, hi, _ := t.intBounds(); n < lo || n > hi {
				return Value{}, outOfRange(t), ErrInvalidValue
			}
			return Value{typ: t, num: n}, "", nil
		}
	case TypeDouble:
		switch n := x.(type) {
		case float64:
			if math.IsNaN(n) {
				return Value{}, "must be a number, not nan", ErrInvalidValue
			}
			return DoubleValue(n), "", nil
		case int64:
			return DoubleValue(float64(n)), "", nil
		}
	case TypeString:
		if s, ok := x.(string); ok {
			return StringValue(s), "", nil
		}
	case TypeList:
		switch l := x.(type) {
		case string:
			return parseKafka(TypeList, l)
		case []any:
			items := make([]string, 0, len(l))
			for _, e := range l {
				s, ok := e.(string)
				if !ok {
					return Value{}, "expected " + t.expected() + ", got an array holding " + tomlTypeName(e), ErrWrongType
				}
				items = append(items, s)
			}
			return Value{typ: TypeList, list: items}, "", nil
		}
	}
	reason := "expected " + t.expected() + ", got " + tomlTypeName(x)
	if s, ok := x.(string); ok && t != TypeString {
		if _, _, err := parseKafka(t, s); err == nil {
			reason += " (write it without quotes)"
		}
	}
	return Value{}, reason, ErrWrongType
}

// tomlTypeName names the TOML type of a value decoded by go-toml into any.
func tomlTypeName(x any) string {
	switch x.(type) {
	case string:
		return "a string"
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case bool:
		return "a boolean"
	case []any:
		return "an array"
	case map[string]any:
		return "a table"
	}
	return "a date/time"
}

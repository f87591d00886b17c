package wasm

import (
	"fmt"

	"github.com/weirmq/weir/sdk"
	"github.com/weirmq/weir/sdk/wasm/abi"
	"github.com/weirmq/weir/sdk/wasm/internal/guest"
)

// ErrDecline, returned (possibly wrapped) by a hook, hands the call back
// to the broker's built-in: murmur2 for a partitioner, keep-everything for
// a compaction filter, the configured fallback assignor for an assignor.
// It is sdk.ErrDecline, and does not count as a failure.
var ErrDecline = sdk.ErrDecline

// Configure installs the function that receives the plugin's
// [plugins.config] table, encoded as a JSON object, once per instance
// before any hook is called. An error (its message is shown to the
// operator) makes the broker refuse the plugin. The function may keep
// config. Call Configure from init; it panics if called twice. A plugin
// that never calls it refuses any non-empty configuration.
func Configure(f func(config []byte) error) { guest.SetConfigure(f) }

// Level is a log level; the values are log/slog's.
type Level int32

// The log levels.
const (
	LevelDebug Level = Level(abi.LevelDebug)
	LevelInfo  Level = Level(abi.LevelInfo)
	LevelWarn  Level = Level(abi.LevelWarn)
	LevelError Level = Level(abi.LevelError)
)

// Log writes msg to the broker's log at level, with the plugin's name
// attached. Messages longer than 1,024 bytes are truncated, and the host
// may drop messages from a plugin that logs too often.
func Log(level Level, msg string) { guest.Log(int32(level), msg) }

// Logf formats its arguments as fmt.Sprintf does and logs the result at
// level.
func Logf(level Level, format string, args ...any) {
	guest.Log(int32(level), fmt.Sprintf(format, args...))
}

package goplugin

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log"
	"log/slog"
	"strings"
	"sync"

	"github.com/hashicorp/go-hclog"
)

// hclogAdapter is the hclog.Logger go-plugin writes to, logging through
// slog. go-plugin logs its own steps (mostly at debug and trace) and
// re-logs each line the plugin process writes to stderr: lines in hclog's
// JSON format keep their level, others are logged at debug (at error once
// a Go panic starts). Trace maps to slog's debug-4.
type hclogAdapter struct {
	l       *slog.Logger
	name    string
	implied []any
}

func newHclog(l *slog.Logger) hclog.Logger { return &hclogAdapter{l: l} }

const levelTrace = slog.LevelDebug - 4

func slogLevel(level hclog.Level) slog.Level {
	switch level {
	case hclog.Trace:
		return levelTrace
	case hclog.Debug, hclog.NoLevel:
		return slog.LevelDebug
	case hclog.Info:
		return slog.LevelInfo
	case hclog.Warn:
		return slog.LevelWarn
	default:
		return slog.LevelError
	}
}

func (h *hclogAdapter) Log(level hclog.Level, msg string, args ...any) {
	lv := slogLevel(level)
	if !h.l.Enabled(context.Background(), lv) {
		return
	}
	// go-plugin names the binary's path "plugin", which would clash with
	// the plugin's name already on the logger.
	for i := 0; i+1 < len(args); i += 2 {
		if k, ok := args[i].(string); ok && k == "plugin" {
			args = append([]any(nil), args...)
			args[i] = "path"
			break
		}
	}
	// hclog accepts an odd trailing argument; slog logs it as !BADKEY,
	// which says what happened.
	h.l.Log(context.Background(), lv, msg, args...)
}

func (h *hclogAdapter) Trace(msg string, args ...any) { h.Log(hclog.Trace, msg, args...) }
func (h *hclogAdapter) Debug(msg string, args ...any) { h.Log(hclog.Debug, msg, args...) }
func (h *hclogAdapter) Info(msg string, args ...any)  { h.Log(hclog.Info, msg, args...) }
func (h *hclogAdapter) Warn(msg string, args ...any)  { h.Log(hclog.Warn, msg, args...) }
func (h *hclogAdapter) Error(msg string, args ...any) { h.Log(hclog.Error, msg, args...) }

func (h *hclogAdapter) enabled(level hclog.Level) bool {
	return h.l.Enabled(context.Background(), slogLevel(level))
}

func (h *hclogAdapter) IsTrace() bool { return h.enabled(hclog.Trace) }
func (h *hclogAdapter) IsDebug() bool { return h.enabled(hclog.Debug) }
func (h *hclogAdapter) IsInfo() bool  { return h.enabled(hclog.Info) }
func (h *hclogAdapter) IsWarn() bool  { return h.enabled(hclog.Warn) }
func (h *hclogAdapter) IsError() bool { return h.enabled(hclog.Error) }

func (h *hclogAdapter) ImpliedArgs() []any { return h.implied }

func (h *hclogAdapter) With(args ...any) hclog.Logger {
	return &hclogAdapter{l: h.l.With(args...), name: h.name, implied: append(h.implied[:len(h.implied):len(h.implied)], args...)}
}

func (h *hclogAdapter) Name() string { return h.name }

func (h *hclogAdapter) Named(name string) hclog.Logger {
	if h.name != "" {
		name = h.name + "." + name
	}
	return h.ResetNamed(name)
}

// ResetNamed names the logger; the name is logged as the "component"
// attribute (the plugin's own name is already on the logger as "plugin").
func (h *hclogAdapter) ResetNamed(name string) hclog.Logger {
	base := h.l
	return &hclogAdapter{l: base.With("component", name), name: name, implied: h.implied}
}

// SetLevel does nothing: the slog handler decides what is logged.
func (h *hclogAdapter) SetLevel(hclog.Level) {}

func (h *hclogAdapter) GetLevel() hclog.Level {
	for _, level := range []hclog.Level{hclog.Trace, hclog.Debug, hclog.Info, hclog.Warn, hclog.Error} {
		if h.enabled(level) {
			return level
		}
	}
	return hclog.Off
}

func (h *hclogAdapter) StandardLogger(opts *hclog.StandardLoggerOptions) *log.Logger {
	return log.New(h.StandardWriter(opts), "", 0)
}

func (h *hclogAdapter) StandardWriter(opts *hclog.StandardLoggerOptions) io.Writer {
	level := hclog.Info
	if opts != nil && opts.ForceLevel != hclog.NoLevel {
		level = opts.ForceLevel
	}
	return &lineLogger{log: func(line string) { h.Log(level, line) }}
}

// lineLogger logs each complete line written to it. It is safe for
// concurrent use.
type lineLogger struct {
	log func(line string)
	mu  sync.Mutex
	buf []byte
}

// maxLine bounds a partial line kept between writes; a longer one is
// logged in pieces.
const maxLine = 64 << 10

func (w *lineLogger) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			if len(w.buf) >= maxLine {
				w.log(string(w.buf))
				w.buf = w.buf[:0]
			}
			return len(p), nil
		}
		if line := strings.TrimRight(string(w.buf[:i]), "\r"); line != "" {
			w.log(line)
		}
		w.buf = w.buf[i+1:]
	}
}

// tailBuffer keeps the last tailSize bytes of a plugin's stderr, to be
// quoted in the error when the plugin fails to start. Lines in hclog's
// JSON format below warn (go-plugin's own chatter) are left out. It is
// safe for concurrent use.
type tailBuffer struct {
	mu      sync.Mutex
	buf     []byte
	partial []byte
}

const tailSize = 2 << 10

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.partial = append(t.partial, p...)
	for {
		i := bytes.IndexByte(t.partial, '\n')
		if i < 0 {
			break
		}
		line := t.partial[:i+1]
		if !quietJSON(line) {
			t.buf = append(t.buf, line...)
		}
		t.partial = t.partial[i+1:]
	}
	if len(t.partial) > tailSize {
		t.buf = append(t.buf, t.partial...)
		t.partial = t.partial[:0]
	}
	if len(t.buf) > tailSize {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-tailSize:]...)
	}
	return len(p), nil
}

// quietJSON reports whether line is an hclog JSON line below warn.
func quietJSON(line []byte) bool {
	var entry struct {
		Level string `json:"@level"`
	}
	if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &entry) != nil {
		return false
	}
	switch entry.Level {
	case "trace", "debug", "info":
		return true
	}
	return false
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return strings.TrimSpace(string(t.buf) + string(t.partial))
}

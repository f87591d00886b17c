package wasm

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/tetratelabs/wazero/api"

	"github.com/weirmq/weir/sdk/wasm/abi"
)

// A guest may log guestLogBurst lines at once and guestLogRate lines a
// second on average; the rest are dropped and counted.
const (
	guestLogRate  = 100
	guestLogBurst = 200
)

const warnLevel = slog.LevelWarn

// logLimiter is a token bucket in front of a logger, so that a plugin
// that logs in a loop (or fails on every call) cannot flood the broker's
// log. It is safe for concurrent use.
type logLimiter struct {
	logger      *slog.Logger
	rate, burst float64

	mu struct {
		sync.Mutex
		tokens  float64
		last    time.Time
		dropped int
	}
}

func newLogLimiter(logger *slog.Logger, rate, burst float64) *logLimiter {
	l := &logLimiter{logger: logger, rate: rate, burst: burst}
	l.mu.tokens = burst
	return l
}

// log logs msg unless the bucket is empty; the first message after a drop
// says how many were dropped.
func (l *logLimiter) log(level slog.Level, msg string, args ...any) {
	l.mu.Lock()
	now := time.Now()
	if !l.mu.last.IsZero() {
		l.mu.tokens = min(l.burst, l.mu.tokens+now.Sub(l.mu.last).Seconds()*l.rate)
	}
	l.mu.last = now
	if l.mu.tokens < 1 {
		l.mu.dropped++
		l.mu.Unlock()
		return
	}
	l.mu.tokens--
	dropped := l.mu.dropped
	l.mu.dropped = 0
	l.mu.Unlock()
	if dropped > 0 {
		args = append(args, "dropped_before", dropped)
	}
	l.logger.Log(context.Background(), level, msg, args...)
}

// instantiateHostModule provides weir.log(level, ptr, len), the one host
// import: it logs the guest's message (at most abi.MaxMessageLen bytes)
// at the guest's level, rate-limited. A message outside the guest's
// memory is reported instead of read.
func (m *Module) instantiateHostModule(ctx context.Context) error {
	logFn := api.GoModuleFunc(func(_ context.Context, mod api.Module, stack []uint64) {
		level := slog.Level(int32(uint32(stack[0])))
		ptr, n := uint32(stack[1]), uint32(stack[2])
		n = min(n, abi.MaxMessageLen)
		b, ok := mod.Memory().Read(ptr, n)
		if !ok {
			m.limiter.log(warnLevel, "wasm plugin called weir.log with a message outside its memory", "ptr", ptr, "len", n)
			return
		}
		m.limiter.log(level, strings.ToValidUTF8(string(b), "\uFFFD"), "source", "guest")
	})
	i32 := api.ValueTypeI32
	_, err := m.rt.NewHostModuleBuilder(abi.ImportModule).
		NewFunctionBuilder().
		WithGoModuleFunction(logFn, []api.ValueType{i32, i32, i32}, nil).
		WithParameterNames("level", "ptr", "len").
		Export(abi.ImportLog).
		Instantiate(ctx)
	return err
}

// maxOutputLines is how many lines of stdout and of stderr one instance
// may send to the log; a Go guest's panic message and the top of its
// trace fit, a dump of every goroutine does not.
const maxOutputLines = 32

// lineLogger is one instance's stdout or stderr: each line (cut at
// abi.MaxMessageLen bytes) goes to the log, rate-limited, up to
// maxOutputLines lines.
type lineLogger struct {
	limiter *logLimiter
	stream  string
	level   slog.Level

	mu      sync.Mutex
	partial []byte
	lines   int
}

func (w *lineLogger) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			room := abi.MaxMessageLen - len(w.partial)
			if len(p) < room {
				w.partial = append(w.partial, p...)
				break
			}
			w.partial = append(w.partial, p[:room]...)
			p = p[room:]
		} else {
			w.partial = append(w.partial, p[:min(i, max(0, abi.MaxMessageLen-len(w.partial)))]...)
			p = p[i+1:]
		}
		if line := strings.TrimRight(strings.ToValidUTF8(string(w.partial), "\uFFFD"), "\r\t "); line != "" {
			w.lines++
			switch {
			case w.lines <= maxOutputLines:
				w.limiter.log(w.level, "wasm plugin output", "stream", w.stream, "line", line)
			case w.lines == maxOutputLines+1:
				w.limiter.log(w.level, "wasm plugin output: further lines from this instance are not logged", "stream", w.stream)
			}
		}
		w.partial = w.partial[:0]
	}
	return n, nil
}

package server

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/weirmq/weir/core/controller"
)

// requestError is a handler's refusal of part of a request: a Kafka error
// code with a short message of our own (kerr's texts are long and
// generic). errorCode finds the code through Unwrap.
type requestError struct {
	code *kerr.Error
	msg  string
}

func (e *requestError) Error() string { return e.msg }
func (e *requestError) Unwrap() error { return e.code }

// refuse returns a requestError with the formatted message.
func refuse(code *kerr.Error, format string, args ...any) error {
	return &requestError{code: code, msg: fmt.Sprintf(format, args...)}
}

// submit hands cmd to the controller, waiting at most timeoutMs (the
// request's timeout; 0 or less: no limit of its own) for its turn. The
// controller writes nothing when the wait ends first, so the retriable
// REQUEST_TIMED_OUT that follows is safe.
func (b *Broker) submit(ctx context.Context, timeoutMs int32, cmd controller.Command) (controller.Result, error) {
	if timeoutMs > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(timeoutMs)*time.Millisecond)
		defer cancel()
	}
	return b.opts.Metadata.Submit(ctx, cmd)
}

// duplicates returns the names that occur more than once in names.
func duplicates(names []string) map[string]bool {
	seen := make(map[string]bool, len(names))
	dups := map[string]bool{}
	for _, n := range names {
		if seen[n] {
			dups[n] = true
		}
		seen[n] = true
	}
	return dups
}

package log

import "errors"

// Errors returned by the log. Callers test them with errors.Is; the request
// handlers map them to Kafka error codes in one place.
var (
	// ErrOffsetOutOfRange: the offset is below the log start offset or above
	// the log end offset.
	ErrOffsetOutOfRange = errors.New("offset out of range")

	// ErrRecordTooLarge: a batch is larger than max.message.bytes or
	// segment.bytes.
	ErrRecordTooLarge = errors.New("record batch too large")

	// ErrInvalidBatch: a batch failed validation (bad CRC, bad framing,
	// unsupported magic, inconsistent counts); it wraps the record package's
	// error, so errors.Is(err, record.ErrCorrupt) etc. also work.
	ErrInvalidBatch = errors.New("invalid record batch")

	// ErrNonMonotonicOffsets: a follower append whose offsets do not follow
	// on from the log end offset.
	ErrNonMonotonicOffsets = errors.New("offsets not monotonic")

	// ErrCorruptLog marks corruption found while serving: a batch header on
	// disk that does not parse. It is a class of its own: the partition
	// should be fenced, not the request retried.
	ErrCorruptLog = errors.New("corrupt log")

	// ErrCorruptIndex: an index file that fails its sanity check. Open
	// rebuilds such indexes; it is never returned from Open.
	ErrCorruptIndex = errors.New("corrupt index")

	// ErrLogFailed: an earlier I/O error left the log in a state it cannot
	// vouch for (a torn write that could not be undone). Every later
	// mutation fails with it until the log is reopened, which recovers.
	ErrLogFailed = errors.New("log failed after an I/O error")

	// ErrClosed: the log has been closed.
	ErrClosed = errors.New("log closed")

	// ErrNotCompacted: a log cleaning was asked of a log whose
	// cleanup.policy does not include compact.
	ErrNotCompacted = errors.New("cleanup.policy does not include compact")
)

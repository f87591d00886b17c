package sdk

import "context"

// CompactionFilter sees the records that survive the log cleaner's key
// dedupe (Kafka's rule: the latest record per key) and decides, record by
// record, to keep, drop or rewrite each — for example to expire records
// whose TTL header has passed, or to keep only the highest version.
//
// The cleaner calls a filter once per chunk of surviving records of one
// partition (at most a few thousand records), so a plugin costs one call
// per chunk. A topic selects its filter with the config
// weir.compaction.filter.
//
// A failing filter never deletes: when Filter returns an error (other
// than ErrDecline, which means "keep everything, as Kafka would") the
// cleaner keeps every record of the chunk and logs the error with the
// filter's name.
//
// Implementations must be safe for concurrent use by multiple goroutines.
type CompactionFilter interface {
	// Name is the filter's name as weir.compaction.filter spells it.
	Name() string

	// Filter writes into out[i] the decision for in.Records[i]; len(out)
	// equals len(in.Records) and every entry starts as Keep. Filter must
	// not keep in or out after it returns; a Rewrite's Value and Headers
	// may share memory with in.
	Filter(ctx context.Context, in FilterInput, out []FilterDecision) error
}

// FilterInput is one chunk of surviving records of one partition, in
// offset order.
type FilterInput struct {
	Topic     string
	Partition int32

	// NowMs is the cleaner's clock, in milliseconds since the Unix epoch:
	// filters that expire records compare against it rather than reading
	// a clock of their own, so that cleaning is testable and repeatable.
	NowMs int64

	Records []Record
}

// Record is one Kafka record as a compaction filter sees it.
type Record struct {
	Offset      int64
	TimestampMs int64
	Key         []byte // nil for no key
	Value       []byte // nil for a tombstone
	Headers     []Header
}

// Header is one Kafka record header.
type Header struct {
	Key   string
	Value []byte // nil for a null header value
}

// FilterAction is what a compaction filter does with one record.
type FilterAction int8

// The filter actions.
const (
	// Keep leaves the record as it is.
	Keep FilterAction = 0
	// Drop removes the record from the cleaned log. Its offset becomes a
	// gap, as for records removed by key dedupe.
	Drop FilterAction = 1
	// Rewrite keeps the record at its offset, key and timestamp, with the
	// decision's Value and Headers in place of the original ones.
	Rewrite FilterAction = 2
)

// FilterDecision is the fate of one record.
type FilterDecision struct {
	Action  FilterAction
	Value   []byte   // Rewrite only: the new value (nil makes a tombstone)
	Headers []Header // Rewrite only: the new headers
}

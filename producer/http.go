package producer

// The HTTP API of a node's producer.
//
// POST /v1/topics/{topic}/records writes records:
//
//	{"encoding": "string",            // optional: "string" (default) or "base64"
//	 "records": [
//	   {"key": "acme/order-1",         // optional; absent or null: no key
//	    "value": {"amount": 3},        // optional; absent or null: a null value (tombstone)
//	    "headers": {"source": "web"},  // optional; a null header value is allowed
//	    "partition": 2,                // optional; absent: the topic's partitioner chooses
//	    "timestamp": 1700000000000}]}  // optional, ms since the epoch; absent: now
//
// With "encoding": "string", keys and header values are JSON strings taken
// as UTF-8 text; a value that is a JSON string is its text, and any other
// JSON value (object, array, number, boolean) is written as its compact
// JSON text. With "encoding": "base64", keys, values and header values are
// standard base64 strings of arbitrary bytes.
//
// The answer lists, per record in request order, where it went:
//
//	{"topic": "orders", "partitioner": "tenant",
//	 "records": [{"partition": 1, "offset": 42},
//	             {"partition": 3, "offset": -1, "error_code": "NOT_ENOUGH_REPLICAS", "error": "..."}]}
//
// Status: 200 when every record was written (acks=all); otherwise the
// status of the first failure — 400 for a record the broker refuses
// (INVALID_RECORD, MESSAGE_TOO_LARGE, ...), 404 for an unknown
// partition, 503 for a retriable error (the record may be retried),
// 500 otherwise. A request refused as a whole — malformed JSON (400), no
// records (400), a partition that does not exist (400), an unknown topic
// (404; a missing topic is created first where the broker's
// auto.create.topics.enable allows, as a Kafka producer's would be), a body
// over the limit (413), a partitioner this node does not have (500) — gets
// {"error": "..."} and writes nothing.
//
// GET /v1/topics/{topic}/partitioner describes the topic's partitioner:
//
//	{"topic": "orders", "partitions": 6, "partitioner": "tenant",
//	 "source": "wasm",                 // "builtin", "wasm" or "command"
//	 "module_sha256": "…", "module": "<base64 of the .wasm file>",
//	 "config": {...}}                  // the plugin's [plugins.config]
//
// module, module_sha256 and config are there for WASM plugins only:
// FetchPartitioner runs that module, so configured, in the caller's
// process.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/weirmq/weir/sdk"
)

// Router is where Routes adds handlers; *server.HTTPServer and
// *http.ServeMux implement it.
type Router interface {
	Handle(pattern string, handler http.Handler)
}

// Routes adds POST /v1/topics/{topic}/records and GET
// /v1/topics/{topic}/partitioner to r.
func (p *Producer) Routes(r Router) {
	r.Handle("POST /v1/topics/{topic}/records", http.HandlerFunc(p.serveProduce))
	r.Handle("GET /v1/topics/{topic}/partitioner", http.HandlerFunc(p.servePartitioner))
}

// ProduceRequest is the body of POST /v1/topics/{topic}/records.
type ProduceRequest struct {
	Encoding string       `json:"encoding,omitempty"`
	Records  []JSONRecord `json:"records"`
}

// JSONRecord is one record of a ProduceRequest.
type JSONRecord struct {
	Key       json.RawMessage    `json:"key,omitempty"`
	Value     json.RawMessage    `json:"value,omitempty"`
	Headers   map[string]*string `json:"headers,omitempty"`
	Partition *int32             `json:"partition,omitempty"`
	Timestamp *int64             `json:"timestamp,omitempty"`
}

// ProduceResponse is the answer of POST /v1/topics/{topic}/records.
type ProduceResponse struct {
	Topic       string         `json:"topic"`
	Partitioner string         `json:"partitioner"`
	Records     []RecordResult `json:"records"`
}

// RecordResult is where one record went.
type RecordResult struct {
	Partition int32  `json:"partition"`
	Offset    int64  `json:"offset"`
	ErrorCode string `json:"error_code,omitempty"`
	Error     string `json:"error,omitempty"`
}

// PartitionerInfo is the answer of GET /v1/topics/{topic}/partitioner.
type PartitionerInfo struct {
	Topic        string `json:"topic"`
	Partitions   int32  `json:"partitions"`
	Partitioner  string `json:"partitioner"`
	Source       string `json:"source"` // "builtin", "wasm" or "command"
	ModuleSHA256 string `json:"module_sha256,omitempty"`
	Module       []byte `json:"module,omitempty"` // base64 in JSON
	// Config is the WASM plugin's [plugins.config], which the module is
	// configured with wherever it runs.
	Config map[string]any `json:"config,omitempty"`
}

// Partitioner sources.
const (
	SourceBuiltin = "builtin"
	SourceWASM    = "wasm"
	SourceCommand = "command"
)

// errorBody is the answer to a request refused as a whole.
type errorBody struct {
	Error string `json:"error"`
}

func (p *Producer) serveProduce(w http.ResponseWriter, req *http.Request) {
	topic := req.PathValue("topic")
	body := http.MaxBytesReader(w, req.Body, p.opts.MaxBodyBytes)
	var pr ProduceRequest
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&pr); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeJSON(w, http.StatusRequestEntityTooLarge, errorBody{fmt.Sprintf("request body over %d bytes; send fewer records per request", tooBig.Limit)})
			return
		}
		writeJSON(w, http.StatusBadRequest, errorBody{"malformed JSON: " + err.Error()})
		return
	}
	recs, err := pr.decode()
	if err != nil {
		writeJSON(w, http.StatusBadRequest, errorBody{err.Error()})
		return
	}
	info, results, err := p.Produce(req.Context(), topic, recs)
	if err != nil {
		writeJSON(w, requestStatus(err), errorBody{err.Error()})
		return
	}
	resp := ProduceResponse{Topic: topic, Partitioner: info.Partitioner, Records: make([]RecordResult, len(results))}
	status := http.StatusOK
	for i, r := range results {
		rr := RecordResult{Partition: r.Partition, Offset: r.Offset}
		if r.Err != nil {
			rr.Error = r.Err.Error()
			rr.ErrorCode = "UNKNOWN"
			var ke *kerr.Error
			if errors.As(r.Err, &ke) {
				rr.ErrorCode = ke.Message
			}
			if status == http.StatusOK {
				status = recordStatus(r.Err)
			}
		}
		resp.Records[i] = rr
	}
	writeJSON(w, status, resp)
}

// decode turns the JSON records into Records, or says which one is wrong.
func (pr *ProduceRequest) decode() ([]Record, error) {
	var b64 bool
	switch pr.Encoding {
	case "", "string":
	case "base64":
		b64 = true
	default:
		return nil, fmt.Errorf(`"encoding" must be "string" or "base64", got %q`, pr.Encoding)
	}
	if len(pr.Records) == 0 {
		return nil, errors.New(`no records: send {"records": [{"key": ..., "value": ...}, ...]}`)
	}
	out := make([]Record, len(pr.Records))
	for i, jr := range pr.Records {
		r := Record{Partition: -1}
		var err error
		if r.Key, err = jsonBytes(jr.Key, b64, false); err != nil {
			return nil, fmt.Errorf("record %d: key: %v", i, err)
		}
		if r.Value, err = jsonBytes(jr.Value, b64, true); err != nil {
			return nil, fmt.Errorf("record %d: value: %v", i, err)
		}
		names := make([]string, 0, len(jr.Headers))
		for k := range jr.Headers {
			names = append(names, k)
		}
		slices.Sort(names)
		for _, k := range names {
			h := sdk.Header{Key: k}
			if v := jr.Headers[k]; v != nil {
				h.Value = []byte(*v)
				if b64 {
					if h.Value, err = base64.StdEncoding.DecodeString(*v); err != nil {
						return nil, fmt.Errorf("record %d: header %q: not base64: %v", i, k, err)
					}
				}
			}
			r.Headers = append(r.Headers, h)
		}
		if jr.Partition != nil {
			if *jr.Partition < 0 {
				return nil, fmt.Errorf("record %d: partition %d: partitions are numbered from 0 (leave it out to let the topic's partitioner choose)", i, *jr.Partition)
			}
			r.Partition = *jr.Partition
		}
		if jr.Timestamp != nil {
			r.Timestamp = time.UnixMilli(*jr.Timestamp)
		}
		out[i] = r
	}
	return out, nil
}

// jsonBytes decodes a key or value: absent or null is nil; a string is its
// text (or base64 bytes); with anyJSON, another JSON value is its compact
// text.
func jsonBytes(raw json.RawMessage, b64, anyJSON bool) ([]byte, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, err
		}
		if b64 {
			b, err := base64.StdEncoding.DecodeString(s)
			if err != nil {
				return nil, fmt.Errorf("not base64: %v", err)
			}
			return b, nil
		}
		return []byte(s), nil
	}
	if b64 {
		return nil, errors.New(`with "encoding": "base64" it must be a base64 string or null`)
	}
	if !anyJSON {
		return nil, errors.New("must be a string or null")
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// requestStatus is the status of a request refused as a whole.
func requestStatus(err error) int {
	switch {
	case errors.Is(err, ErrUnknownTopic):
		return http.StatusNotFound
	case errors.Is(err, ErrInvalidRecord):
		return http.StatusBadRequest
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return http.StatusGatewayTimeout
	}
	var ke *kerr.Error
	if errors.As(err, &ke) && ke.Retriable {
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// recordStatus is the status of a request in which a record failed.
func recordStatus(err error) int {
	var ke *kerr.Error
	switch {
	case errors.Is(err, kerr.UnknownTopicOrPartition):
		return http.StatusNotFound
	case errors.As(err, &ke) && ke.Retriable, errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable
	case errors.As(err, &ke):
		return http.StatusBadRequest
	}
	return http.StatusInternalServerError
}

func (p *Producer) servePartitioner(w http.ResponseWriter, req *http.Request) {
	topic := req.PathValue("topic")
	info, err := DescribeTopic(req.Context(), p.cl, topic, false)
	if err != nil {
		writeJSON(w, requestStatus(err), errorBody{err.Error()})
		return
	}
	out := PartitionerInfo{Topic: topic, Partitions: info.Partitions, Partitioner: info.Partitioner}
	if p.opts.Modules != nil {
		if source, ok := p.opts.Modules.PluginSource(info.Partitioner); ok {
			out.Source = source
		}
		if out.Source == SourceWASM {
			module, config, err := p.opts.Modules.PluginModule(info.Partitioner)
			if err != nil {
				writeJSON(w, http.StatusInternalServerError, errorBody{err.Error()})
				return
			}
			sum := sha256.Sum256(module)
			out.Module, out.ModuleSHA256, out.Config = module, hex.EncodeToString(sum[:]), config
		}
	}
	if out.Source == "" {
		if _, ok := p.opts.Partitioners.Partitioner(info.Partitioner); !ok {
			writeJSON(w, http.StatusInternalServerError, errorBody{fmt.Sprintf("topic %q names weir.partitioner %q, which this node does not have", topic, info.Partitioner)})
			return
		}
		out.Source = SourceBuiltin
	}
	writeJSON(w, http.StatusOK, out)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	// An error here means the client went away: nothing to tell it.
	_ = json.NewEncoder(w).Encode(v)
}

package main

// The record formats of `weir consume --format`.

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/template"
	"time"
	"unicode/utf8"

	"github.com/twmb/franz-go/pkg/kgo"
)

// recordFormatter writes one record to w.
type recordFormatter func(w io.Writer, r *kgo.Record) error

// newRecordFormatter returns the formatter --format names, or an error
// naming the valid choices.
func newRecordFormatter(format string) (recordFormatter, error) {
	switch format {
	case "value":
		return func(w io.Writer, r *kgo.Record) error {
			_, err := fmt.Fprintf(w, "%s\n", r.Value)
			return err
		}, nil
	case "kv":
		return func(w io.Writer, r *kgo.Record) error {
			_, err := fmt.Fprintf(w, "%s\t%s\n", r.Key, r.Value)
			return err
		}, nil
	case "json":
		return formatJSON, nil
	}
	if !strings.Contains(format, "{{") {
		return nil, fmt.Errorf("unknown format %q: want value, kv, json, or a Go template containing {{", format)
	}
	tmpl, err := template.New("record").Option("missingkey=error").Parse(format)
	if err != nil {
		return nil, err
	}
	return func(w io.Writer, r *kgo.Record) error {
		if err := tmpl.Execute(w, newTemplateRecord(r)); err != nil {
			return err
		}
		_, err := io.WriteString(w, "\n")
		return err
	}, nil
}

// jsonRecord is one line of --format json.
type jsonRecord struct {
	Topic         string       `json:"topic"`
	Partition     int32        `json:"partition"`
	Offset        int64        `json:"offset"`
	Timestamp     int64        `json:"timestamp"` // ms since the Unix epoch
	Key           *string      `json:"key"`
	KeyEncoding   string       `json:"key_encoding,omitempty"`
	Value         *string      `json:"value"`
	ValueEncoding string       `json:"value_encoding,omitempty"`
	Headers       []jsonHeader `json:"headers"`
}

type jsonHeader struct {
	Key           string  `json:"key"`
	Value         *string `json:"value"`
	ValueEncoding string  `json:"value_encoding,omitempty"`
}

// jsonBytes renders b as a JSON string: nil stays null, valid UTF-8 is
// kept, anything else is base64 with the encoding "base64".
func jsonBytes(b []byte) (s *string, encoding string) {
	if b == nil {
		return nil, ""
	}
	if utf8.Valid(b) {
		v := string(b)
		return &v, ""
	}
	v := base64.StdEncoding.EncodeToString(b)
	return &v, "base64"
}

func formatJSON(w io.Writer, r *kgo.Record) error {
	j := jsonRecord{
		Topic:     r.Topic,
		Partition: r.Partition,
		Offset:    r.Offset,
		Timestamp: r.Timestamp.UnixMilli(),
		Headers:   make([]jsonHeader, 0, len(r.Headers)),
	}
	j.Key, j.KeyEncoding = jsonBytes(r.Key)
	j.Value, j.ValueEncoding = jsonBytes(r.Value)
	for _, h := range r.Headers {
		jh := jsonHeader{Key: h.Key}
		jh.Value, jh.ValueEncoding = jsonBytes(h.Value)
		j.Headers = append(j.Headers, jh)
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(j)
}

// templateRecord is what a --format template sees.
type templateRecord struct {
	Topic     string
	Partition int32
	Offset    int64
	Timestamp time.Time
	Key       string
	Value     string
	Headers   []templateHeader
}

type templateHeader struct {
	Key   string
	Value string
}

func newTemplateRecord(r *kgo.Record) templateRecord {
	t := templateRecord{
		Topic:     r.Topic,
		Partition: r.Partition,
		Offset:    r.Offset,
		Timestamp: r.Timestamp,
		Key:       string(r.Key),
		Value:     string(r.Value),
		Headers:   make([]templateHeader, len(r.Headers)),
	}
	for i, h := range r.Headers {
		t.Headers[i] = templateHeader{Key: h.Key, Value: string(h.Value)}
	}
	return t
}

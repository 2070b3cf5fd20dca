package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
)

// Headers of a produce request: the idempotent producer's id and the
// sequence number of the batch's first record.
const (
	HeaderProducer = "Skerry-Producer"
	HeaderSequence = "Skerry-Sequence"
)

// MaxJSONBytes bounds a control request body.
const MaxJSONBytes = 64 << 10

// TopicConfig is a topic's configuration. MaxAge is a Go duration string
// ("24h"); zero values take the server's defaults.
type TopicConfig struct {
	Volatile       bool   `json:"volatile,omitempty"`
	MaxBytes       int64  `json:"max_bytes,omitempty"`
	MaxAge         string `json:"max_age,omitempty"`
	MaxRecords     int64  `json:"max_records,omitempty"`
	OnFull         string `json:"on_full,omitempty"`
	MaxRecordBytes int    `json:"max_record_bytes,omitempty"`
}

// CreateTopicRequest is the body of POST /v1/topics.
type CreateTopicRequest struct {
	Name   string      `json:"name"`
	Config TopicConfig `json:"config"`
}

// TopicInfo describes a topic; records are retained in [start, next).
type TopicInfo struct {
	Name    string      `json:"name"`
	Config  TopicConfig `json:"config"`
	Created time.Time   `json:"created"`
	Start   uint64      `json:"start"`
	Next    uint64      `json:"next"`
	Bytes   int64       `json:"bytes"`
}

// Ack acknowledges a produce request.
type Ack struct {
	First     uint64 `json:"first"`
	Last      uint64 `json:"last"`
	Duplicate bool   `json:"duplicate,omitempty"`
}

// CommitRequest is the body of PUT .../cursors/{consumer}.
type CommitRequest struct {
	Offset *uint64 `json:"offset"`
}

// Cursor is a consumer's committed position.
type Cursor struct {
	Consumer string    `json:"consumer"`
	Offset   uint64    `json:"offset"`
	Time     time.Time `json:"time"`
	Lag      uint64    `json:"lag"`
}

// TokenRequest asks for a new tenant token (system token only).
type TokenRequest struct {
	Tenant string `json:"tenant"`
}

// TokenResponse carries a new token; it is shown once and stored hashed.
type TokenResponse struct {
	Tenant string `json:"tenant"`
	Token  string `json:"token"`
}

// TopicStatus is a topic's traffic and consumer lag.
type TopicStatus struct {
	TopicInfo
	AppendedRecords   uint64   `json:"appended_records"`
	AppendedBytes     uint64   `json:"appended_bytes"`
	ReadRecords       uint64   `json:"read_records"`
	ReadBytes         uint64   `json:"read_bytes"`
	AppendRecordsRate float64  `json:"append_records_per_sec"`
	AppendBytesRate   float64  `json:"append_bytes_per_sec"`
	ReadRecordsRate   float64  `json:"read_records_per_sec"`
	ReadBytesRate     float64  `json:"read_bytes_per_sec"`
	Cursors           []Cursor `json:"cursors,omitempty"`
}

// Status is the body of GET /v1/status. Disk figures are shown to the
// system token only.
type Status struct {
	Tenant    string        `json:"tenant"`
	Topics    []TopicStatus `json:"topics"`
	Segments  int           `json:"segments,omitempty"`
	DiskBytes int64         `json:"disk_bytes,omitempty"`
	DiskFull  bool          `json:"disk_full,omitempty"`
}

// ErrBadJSON is returned for a control body that does not decode.
var ErrBadJSON = errors.New("bad request body")

// DecodeJSON decodes one JSON value of at most MaxJSONBytes from r into v,
// refusing unknown fields and trailing data, so that a typo in a field
// name is an error rather than a silent default.
func DecodeJSON(r io.Reader, v any) error {
	b, err := io.ReadAll(io.LimitReader(r, MaxJSONBytes+1))
	if err != nil {
		return fmt.Errorf("%w: read: %v", ErrBadJSON, err)
	}
	if len(b) > MaxJSONBytes {
		return fmt.Errorf("%w: larger than %d bytes", ErrBadJSON, MaxJSONBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %v", ErrBadJSON, err)
	}
	if dec.More() {
		return fmt.Errorf("%w: data after the JSON value", ErrBadJSON)
	}
	return nil
}

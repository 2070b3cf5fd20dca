package wire

import "time"

// Headers of a produce request: the idempotent producer's id and the
// sequence number of the batch's first record.
const (
	HeaderProducer = "Skerry-Producer"
	HeaderSequence = "Skerry-Sequence"
)

// MaxJSONBytes bounds a control request body. JSON field names are
// lowerCamelCase, as in every Skerry API (services/httpjson).
const MaxJSONBytes = 64 << 10

// TopicConfig is a topic's configuration. MaxAge is a Go duration string
// ("24h"); zero values take the server's defaults.
type TopicConfig struct {
	Volatile       bool   `json:"volatile,omitempty"`
	MaxBytes       int64  `json:"maxBytes,omitempty"`
	MaxAge         string `json:"maxAge,omitempty"`
	MaxRecords     int64  `json:"maxRecords,omitempty"`
	OnFull         string `json:"onFull,omitempty"`
	MaxRecordBytes int    `json:"maxRecordBytes,omitempty"`
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
	AppendedRecords   uint64   `json:"appendedRecords"`
	AppendedBytes     uint64   `json:"appendedBytes"`
	ReadRecords       uint64   `json:"readRecords"`
	ReadBytes         uint64   `json:"readBytes"`
	AppendRecordsRate float64  `json:"appendRecordsPerSec"`
	AppendBytesRate   float64  `json:"appendBytesPerSec"`
	ReadRecordsRate   float64  `json:"readRecordsPerSec"`
	ReadBytesRate     float64  `json:"readBytesPerSec"`
	Cursors           []Cursor `json:"cursors,omitempty"`
}

// Status is the body of GET /v1/status. Disk figures are shown to the
// system token only.
type Status struct {
	Tenant    string        `json:"tenant"`
	Topics    []TopicStatus `json:"topics"`
	Segments  int           `json:"segments,omitempty"`
	DiskBytes int64         `json:"diskBytes,omitempty"`
	DiskFull  bool          `json:"diskFull,omitempty"`
}

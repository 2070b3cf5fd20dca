package streamlog

import (
	"fmt"
	"time"
)

// FullPolicy says what a topic does when an append would exceed its
// retention limits.
type FullPolicy string

const (
	// DropOldest trims the oldest records to make room (the default).
	DropOldest FullPolicy = "drop-oldest"
	// RejectNew refuses the append with ErrTopicFull: back-pressure.
	RejectNew FullPolicy = "reject-new"
)

// Defaults and hard limits of a topic's configuration.
const (
	DefaultMaxBytes         = 64 << 20 // persistent topics
	DefaultVolatileMaxBytes = 4 << 20
	DefaultMaxRecordBytes   = 1 << 20
	// HardMaxRecordBytes caps MaxRecordBytes: one record must fit well inside
	// one group commit and one API frame.
	HardMaxRecordBytes = 4 << 20
	// HardMaxVolatileBytes caps a volatile topic: it lives in the service's
	// memory, which init's cgroup limits.
	HardMaxVolatileBytes = 256 << 20
)

// TopicConfig is a topic's configuration, fixed at creation. Its JSON form
// is how meta.db stores it (snake_case, as stored since the first release);
// the API's lowerCamelCase form is wire.TopicConfig.
type TopicConfig struct {
	// Volatile topics live in memory only and are lost on restart;
	// persistent ones are fsynced before an append is acknowledged.
	Volatile bool `json:"volatile,omitempty"`
	// Retention limits; zero means the default (MaxBytes) or no limit.
	MaxBytes   int64         `json:"max_bytes,omitempty"`
	MaxAge     time.Duration `json:"max_age,omitempty"`
	MaxRecords int64         `json:"max_records,omitempty"`
	// OnFull is DropOldest (default) or RejectNew.
	OnFull FullPolicy `json:"on_full,omitempty"`
	// MaxRecordBytes bounds key + headers + value of one record.
	MaxRecordBytes int `json:"max_record_bytes,omitempty"`
}

// withDefaults fills in zero fields and checks ranges.
func (c TopicConfig) withDefaults() (TopicConfig, error) {
	if c.MaxBytes == 0 {
		c.MaxBytes = DefaultMaxBytes
		if c.Volatile {
			c.MaxBytes = DefaultVolatileMaxBytes
		}
	}
	if c.OnFull == "" {
		c.OnFull = DropOldest
	}
	if c.MaxRecordBytes == 0 {
		c.MaxRecordBytes = int(min(DefaultMaxRecordBytes, c.MaxBytes))
	}
	switch {
	case c.MaxBytes < 0 || c.MaxAge < 0 || c.MaxRecords < 0:
		return c, fmt.Errorf("%w: limits must not be negative", ErrInvalidConfig)
	case c.OnFull != DropOldest && c.OnFull != RejectNew:
		return c, fmt.Errorf("%w: onFull %q: use %q or %q", ErrInvalidConfig, c.OnFull, DropOldest, RejectNew)
	case c.MaxRecordBytes < 0 || c.MaxRecordBytes > HardMaxRecordBytes:
		return c, fmt.Errorf("%w: maxRecordBytes %d: use 1..%d", ErrInvalidConfig, c.MaxRecordBytes, HardMaxRecordBytes)
	case c.Volatile && c.MaxBytes > HardMaxVolatileBytes:
		return c, fmt.Errorf("%w: volatile maxBytes %d above %d: volatile topics live in memory", ErrInvalidConfig, c.MaxBytes, HardMaxVolatileBytes)
	case int64(c.MaxRecordBytes) > c.MaxBytes:
		return c, fmt.Errorf("%w: maxRecordBytes %d above maxBytes %d", ErrInvalidConfig, c.MaxRecordBytes, c.MaxBytes)
	}
	return c, nil
}

package api

import (
	"fmt"
	"time"

	"github.com/skerry/skerry/services/streamlog"
	"github.com/skerry/skerry/services/streamlog/wire"
)

// configFromWire converts the JSON config. maxAge travels as a duration
// string: nanosecond integers in JSON are an easy way to set 1 ms by mistake.
func configFromWire(c wire.TopicConfig) (streamlog.TopicConfig, error) {
	out := streamlog.TopicConfig{
		Volatile: c.Volatile, MaxBytes: c.MaxBytes, MaxRecords: c.MaxRecords,
		OnFull: streamlog.FullPolicy(c.OnFull), MaxRecordBytes: c.MaxRecordBytes,
	}
	if c.MaxAge != "" {
		d, err := time.ParseDuration(c.MaxAge)
		if err != nil {
			return out, fmt.Errorf("%w: maxAge %q: use a duration such as 24h", streamlog.ErrInvalidConfig, c.MaxAge)
		}
		out.MaxAge = d
	}
	return out, nil
}

func configToWire(c streamlog.TopicConfig) wire.TopicConfig {
	out := wire.TopicConfig{
		Volatile: c.Volatile, MaxBytes: c.MaxBytes, MaxRecords: c.MaxRecords,
		OnFull: string(c.OnFull), MaxRecordBytes: c.MaxRecordBytes,
	}
	if c.MaxAge > 0 {
		out.MaxAge = c.MaxAge.String()
	}
	return out
}

func infoToWire(i streamlog.TopicInfo) wire.TopicInfo {
	return wire.TopicInfo{
		Name: i.Name.String(), Config: configToWire(i.Config), Created: i.Created,
		Start: i.Start, Next: i.Next, Bytes: i.Bytes,
	}
}

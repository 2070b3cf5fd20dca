package wire

import "github.com/skerry/skerry/services/httpjson"

// Error is the body of every failed API request, {"code": ..., "message":
// ...}: a stable code for programs and a message for people, naming the
// input that was wrong and what to do. It is httpjson's, shared by every
// Skerry API; errors.Is matches it by code, so callers can check
// errors.Is(err, wire.ErrTopicFull) on what the client returns.
type Error = httpjson.Error

// The error codes of the API, as sentinels for errors.Is.
var (
	ErrBadRequest       = &Error{Code: "bad_request"}
	ErrInvalidName      = &Error{Code: "invalid_name"}
	ErrInvalidConfig    = &Error{Code: "invalid_config"}
	ErrRecordTooLarge   = &Error{Code: "record_too_large"}
	ErrUnauthorized     = &Error{Code: "unauthorized"}
	ErrForbidden        = &Error{Code: "forbidden"}
	ErrTopicNotFound    = &Error{Code: "topic_not_found"}
	ErrCursorNotFound   = &Error{Code: "cursor_not_found"}
	ErrTopicExists      = &Error{Code: "topic_exists"}
	ErrTopicFull        = &Error{Code: "topic_full"}
	ErrSequenceGap      = &Error{Code: "sequence_gap"}
	ErrStaleSequence    = &Error{Code: "stale_sequence"}
	ErrOffsetOutOfRange = &Error{Code: "offset_out_of_range"}
	ErrDiskFull         = &Error{Code: "disk_full"}
	ErrUnavailable      = &Error{Code: "unavailable"}
	ErrTooManyTails     = &Error{Code: "too_many_tails"}
	ErrInternal         = &Error{Code: "internal"}
	ErrBusy             = &Error{Code: httpjson.CodeBusy}
	ErrTimeout          = &Error{Code: httpjson.CodeTimeout}
	ErrTooLarge         = &Error{Code: httpjson.CodeTooLarge}
)

package wire

import "fmt"

// Error is the JSON body of every failed API request: a stable code for
// programs and a message for people, naming the input that was wrong and
// what to do.
type Error struct {
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"error"`
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s (%s)", e.Message, e.Code)
}

// Is matches errors by code, so callers can check errors.Is(err,
// wire.ErrTopicFull) on what the client returns.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

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
	ErrBusy             = &Error{Code: "busy"}
	ErrTimeout          = &Error{Code: "timeout"}
)

package streamlog

import "errors"

// The sentinel errors of the package. Callers check them with errors.Is; the
// returned errors wrap them with the input that was wrong.
var (
	// ErrInvalidName is returned when a topic, tenant or consumer name does
	// not follow the naming rules (see ParseName).
	ErrInvalidName = errors.New("invalid name")
	// ErrInvalidConfig is returned when a topic's configuration is out of
	// range, e.g. a volatile topic without a byte bound.
	ErrInvalidConfig = errors.New("invalid topic config")
	// ErrTopicNotFound is returned when the named topic does not exist.
	ErrTopicNotFound = errors.New("topic not found")
	// ErrTopicExists is returned by CreateTopic when the topic exists with a
	// different configuration.
	ErrTopicExists = errors.New("topic already exists")
	// ErrRecordTooLarge is returned when a record's key, headers and value
	// together exceed the topic's MaxRecordBytes.
	ErrRecordTooLarge = errors.New("record too large")
	// ErrTopicFull is the back-pressure error: the topic's retention limit is
	// reached and its policy is RejectNew. Retry after consumers catch up or
	// records age out.
	ErrTopicFull = errors.New("topic full")
	// ErrSequenceGap is returned when a producer's sequence number skips
	// ahead of the next expected one: a batch was lost in between.
	ErrSequenceGap = errors.New("producer sequence gap")
	// ErrStaleSequence is returned when a producer resends a batch older than
	// the ones the store remembers; it was stored before.
	ErrStaleSequence = errors.New("producer sequence already stored")
	// ErrDiskFull is returned to producers when the data directory's
	// filesystem has no space left. Reads keep working; appends succeed
	// again once space returns.
	ErrDiskFull = errors.New("disk full")
	// ErrCursorNotFound is returned when a consumer has never committed an
	// offset for the topic.
	ErrCursorNotFound = errors.New("cursor not found")
	// ErrClosed is returned by every method after Close.
	ErrClosed = errors.New("store closed")
	// ErrDataDirInUse is returned by Open when another process holds the
	// data directory.
	ErrDataDirInUse = errors.New("data directory in use by another process")
)

// ErrOffsetOutOfRange is returned when a cursor is committed beyond the end
// of its topic.
var ErrOffsetOutOfRange = errors.New("offset out of range")

// ErrBadBatch is returned for a batch the store cannot take as it is: no
// records, or a producer id that is too long.
var ErrBadBatch = errors.New("bad batch")

package store

import "errors"

// Errors of every Store implementation; callers check them with errors.Is.
var (
	// ErrNotFound is returned when a record does not exist.
	ErrNotFound = errors.New("not found")
	// ErrExists is returned when a record would take a unique key (an EK
	// hash, a site name in its tenant) that another record holds.
	ErrExists = errors.New("already exists")
	// ErrCursor is returned when a list cursor was not made by the store.
	ErrCursor = errors.New("invalid cursor")
)

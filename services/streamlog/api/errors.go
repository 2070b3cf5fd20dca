package api

import (
	"context"
	"errors"
	"net/http"

	"github.com/skerry/skerry/services/httpjson"

	"github.com/skerry/skerry/services/streamlog"
	"github.com/skerry/skerry/services/streamlog/wire"
)

// codes maps the store's sentinel errors to API statuses and codes.
var codes = []struct {
	err    error
	status int
	code   *wire.Error
}{
	{streamlog.ErrInvalidName, http.StatusBadRequest, wire.ErrInvalidName},
	{streamlog.ErrInvalidConfig, http.StatusBadRequest, wire.ErrInvalidConfig},
	{streamlog.ErrBadBatch, http.StatusBadRequest, wire.ErrBadRequest},
	{wire.ErrBadFrame, http.StatusBadRequest, wire.ErrBadRequest},
	{streamlog.ErrRecordTooLarge, http.StatusRequestEntityTooLarge, wire.ErrRecordTooLarge},
	{streamlog.ErrTopicNotFound, http.StatusNotFound, wire.ErrTopicNotFound},
	{streamlog.ErrCursorNotFound, http.StatusNotFound, wire.ErrCursorNotFound},
	{streamlog.ErrTopicExists, http.StatusConflict, wire.ErrTopicExists},
	{streamlog.ErrTopicFull, http.StatusTooManyRequests, wire.ErrTopicFull},
	{streamlog.ErrSequenceGap, http.StatusConflict, wire.ErrSequenceGap},
	{streamlog.ErrStaleSequence, http.StatusConflict, wire.ErrStaleSequence},
	{streamlog.ErrOffsetOutOfRange, http.StatusRequestedRangeNotSatisfiable, wire.ErrOffsetOutOfRange},
	{streamlog.ErrDiskFull, http.StatusInsufficientStorage, wire.ErrDiskFull},
	{streamlog.ErrClosed, http.StatusServiceUnavailable, wire.ErrUnavailable},
	{context.Canceled, http.StatusServiceUnavailable, wire.ErrUnavailable},
}

// writeError answers with the JSON error body for err. The store's messages
// already name the input and the remedy; this adds the status and a stable
// code. Server-side failures are logged; disk full is expected and is not.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	e := &wire.Error{Status: http.StatusInternalServerError, Code: wire.ErrInternal.Code, Message: err.Error()}
	for _, c := range codes {
		if errors.Is(err, c.err) {
			e.Status, e.Code = c.status, c.code.Code
			break
		}
	}
	var we *wire.Error
	if errors.As(err, &we) {
		e = we
	}
	if e.Status >= 500 && e.Status != http.StatusInsufficientStorage {
		s.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	if e.Code == wire.ErrTopicFull.Code || e.Code == wire.ErrBusy.Code {
		w.Header().Set("Retry-After", "1")
	}
	httpjson.Write(w, e.Status, e)
}

// apiError builds an error that is already an API answer.
func apiError(status int, code *wire.Error, msg string) *wire.Error {
	return &wire.Error{Status: status, Code: code.Code, Message: msg}
}

// Package httpjson is the JSON plumbing every Skerry HTTP API shares, on
// the site and at the tower: one error body, one casing, one strict and
// bounded way to read a request.
//
// The conventions, stated once for every API:
//   - Field names are lowerCamelCase ("readyAt", "maxBytes"); error codes
//     are snake_case ("bad_request", "disk_full").
//   - Every error answer has the body {"code": "...", "message": "..."}:
//     code is stable and meant for programs, message says what was wrong,
//     with which input, and what to do.
//   - Request bodies are one JSON value, with no unknown fields and nothing
//     after it, read up to a bound the endpoint states; a larger body is
//     refused with 413 too_large without being read further.
package httpjson

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// Error is the body of every error answer. It is also the error clients
// return for one, so that errors.Is(err, httpjson.ErrNotFound) or an API's
// own sentinel with the same Code matches.
type Error struct {
	// Status is the HTTP status; it is not part of the body.
	Status  int    `json:"-"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *Error) Error() string {
	if e.Message == "" {
		return e.Code
	}
	return fmt.Sprintf("%s (%s)", e.Message, e.Code)
}

// Is matches errors by code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// Codes every API may answer with. APIs add codes of their own; a code
// means the same thing wherever it appears.
const (
	CodeBadRequest       = "bad_request"        // malformed body or parameter
	CodeTooLarge         = "too_large"          // body larger than the endpoint accepts
	CodeUnauthenticated  = "unauthenticated"    // no valid credential
	CodeForbidden        = "forbidden"          // valid credential, not allowed to do this
	CodeNotFound         = "not_found"          // no such resource (or not yours)
	CodeMethodNotAllowed = "method_not_allowed" // the Allow header lists what is
	CodeConflict         = "conflict"           // the resource exists already, or changed
	CodeBusy             = "busy"               // too many requests at once: retry after Retry-After
	CodeTimeout          = "timeout"            // the client was too slow sending its request
	CodeUnavailable      = "unavailable"        // shutting down or not ready: retry
	CodeInternal         = "internal"           // a fault of the server; its log has the cause
)

// Sentinels for the common codes, for errors.Is.
var (
	ErrBadRequest      = &Error{Code: CodeBadRequest}
	ErrTooLarge        = &Error{Code: CodeTooLarge}
	ErrUnauthenticated = &Error{Code: CodeUnauthenticated}
	ErrForbidden       = &Error{Code: CodeForbidden}
	ErrNotFound        = &Error{Code: CodeNotFound}
	ErrConflict        = &Error{Code: CodeConflict}
	ErrBusy            = &Error{Code: CodeBusy}
	ErrUnavailable     = &Error{Code: CodeUnavailable}
	ErrInternal        = &Error{Code: CodeInternal}
)

// Write answers v as indented JSON: the APIs are read by people with curl
// as much as by programs, and the bytes do not matter at their scale.
func Write(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// WriteError answers the error body.
func WriteError(w http.ResponseWriter, status int, code, msg string) {
	Write(w, status, &Error{Code: code, Message: msg})
}

// Decode reads one JSON value from the request body into v, at most max
// bytes. It refuses unknown fields (a typo must not be silently ignored)
// and data after the value. The error is an *Error: CodeTooLarge (413)
// for a body over max, CodeTimeout (408) for a client that stopped
// sending, CodeBadRequest (400) otherwise.
func Decode(w http.ResponseWriter, r *http.Request, max int64, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, max))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err, max, v)
	}
	if _, err := dec.Token(); err != io.EOF {
		if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
			if e := decodeError(err, max, v); e.Code != CodeBadRequest {
				return e
			}
		}
		return &Error{Status: http.StatusBadRequest, Code: CodeBadRequest, Message: "request body has data after the JSON value"}
	}
	return nil
}

func decodeError(err error, max int64, v any) *Error {
	if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
		return &Error{Status: http.StatusRequestEntityTooLarge, Code: CodeTooLarge, Message: fmt.Sprintf("request body is larger than %d bytes", max)}
	}
	if ne, ok := errors.AsType[interface {
		error
		Timeout() bool
	}](err); ok && ne.Timeout() {
		return &Error{Status: http.StatusRequestTimeout, Code: CodeTimeout, Message: "request body arrived too slowly; send it at once"}
	}
	return &Error{Status: http.StatusBadRequest, Code: CodeBadRequest, Message: fmt.Sprintf("request body is not a valid %s: %v", typeName(v), err)}
}

// typeName names the expected body for messages: "towerapi.NewTenant".
func typeName(v any) string {
	s := fmt.Sprintf("%T", v)
	if len(s) > 0 && s[0] == '*' {
		s = s[1:]
	}
	return s
}

// maxErrorBody bounds what ReadError reads of an error answer.
const maxErrorBody = 64 << 10

// ReadError turns an answer that is not 2xx into an *Error. A body that is
// not the error body (a proxy's HTML page, say) becomes CodeInternal with
// the status and the start of the body as its message. It reads at most
// 64 KiB of the body and does not close it.
func ReadError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	e := &Error{Status: resp.StatusCode}
	if json.Unmarshal(b, e) != nil || e.Code == "" {
		msg := string(b)
		if len(msg) > 200 {
			msg = msg[:200] + "…"
		}
		e.Code, e.Message = CodeInternal, fmt.Sprintf("%s: %s", resp.Status, msg)
		if q := resp.Request; q != nil {
			e.Message = q.Method + " " + q.URL.Path + ": " + e.Message
		}
	}
	return e
}

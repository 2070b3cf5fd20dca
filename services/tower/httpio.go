package tower

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"

	"github.com/skerry/skerry/services/api/enrollapi"
	"github.com/skerry/skerry/services/api/towerapi"
	"github.com/skerry/skerry/services/httpjson"
	"github.com/skerry/skerry/services/tower/store"
)

// maxBody bounds every request body; the largest legitimate one, an
// enrollment start with an EK certificate, is a few kilobytes.
const maxBody = enrollapi.MaxBodyBytes

// decode reads one JSON value of type T from the body, at most maxBody
// bytes, streaming (never allocating what a client declares), refusing
// unknown fields and trailing data (httpjson.Decode).
func decode[T any](w http.ResponseWriter, r *http.Request) (T, error) {
	var v T
	err := httpjson.Decode(w, r, maxBody, &v)
	return v, err
}

// writeJSON answers v indented: the API is read by people with curl as
// much as by programs.
func writeJSON(w http.ResponseWriter, status int, v any) { httpjson.Write(w, status, v) }

// writeError answers the one error body of every Skerry API,
// {"code": ..., "message": ...}.
func writeError(w http.ResponseWriter, status int, code, msg string) {
	httpjson.WriteError(w, status, code, msg)
}

// Page sizes of lists.
const (
	defaultLimit = 100
	maxLimit     = 1000
)

// page reads ?limit= and ?cursor=.
func page(r *http.Request) (store.Page, error) {
	p := store.Page{Limit: defaultLimit, Cursor: r.URL.Query().Get("cursor")}
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxLimit {
			return p, refuse(ErrBadRequest, "limit %q: want a number from 1 to %d", v, maxLimit)
		}
		p.Limit = n
	}
	return p, nil
}

// listErr turns a store error about a cursor into a refusal.
func listErr(err error) error {
	if errors.Is(err, store.ErrCursor) {
		return refuse(ErrBadRequest, "cursor is not one the tower returned; start the list again without it")
	}
	return err
}

var slugRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// checkSlug accepts tenant IDs and site names that are safe in URLs,
// file names and DNS labels, which is where they end up.
func checkSlug(what, v string) error {
	if !slugRE.MatchString(v) {
		return refuse(ErrBadRequest, "%s %q: use 1 to 63 lowercase letters, digits and '-', not starting or ending with '-'", what, v)
	}
	return nil
}

var labelKeyRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9._/-]{0,62}[A-Za-z0-9])?$`)

// checkLabels bounds labels, which come from operators but are copied
// into every site record.
func checkLabels(labels map[string]string) error {
	if len(labels) > 64 {
		return refuse(ErrBadRequest, "%d labels: at most 64", len(labels))
	}
	for k, v := range labels {
		if !labelKeyRE.MatchString(k) {
			return refuse(ErrBadRequest, "label key %q: use letters, digits, '.', '_', '/', '-', at most 64", k)
		}
		if err := checkText("label "+k, v, 256); err != nil {
			return err
		}
	}
	return nil
}

// notFound turns store.ErrNotFound into a refusal naming what is missing.
func notFound(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, store.ErrNotFound) {
		return refuse(ErrNotFound, format, args...)
	}
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), err)
}

// serveList answers a paginated list: fetch runs in one read transaction
// with the request's page, and view turns each record into its API form.
func serveList[R, V any](s *Server, w http.ResponseWriter, r *http.Request, f store.Filter,
	fetch func(store.Tx, store.Filter, store.Page) ([]R, string, error), view func(R) V) error {
	pg, err := page(r)
	if err != nil {
		return err
	}
	var out towerapi.List[V]
	err = s.store.View(r.Context(), func(tx store.Tx) error {
		items, next, err := fetch(tx, f, pg)
		out.Items, out.NextCursor = mapSlice(items, view), next
		return listErr(err)
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

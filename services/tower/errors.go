package tower

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/skerry/skerry/services/api/enrollapi"
	"github.com/skerry/skerry/services/httpjson"
)

// Errors of the tower, each one refusal an API client can see. Handlers
// return them through refuse, which adds what a person needs to act; the
// table below gives each its HTTP status and wire code.
var (
	// ErrBadRequest is returned when a body or parameter is malformed.
	ErrBadRequest = errors.New("bad request")
	// ErrTooLarge is returned when a body exceeds the size limit.
	ErrTooLarge = errors.New("request body too large")
	// ErrUnauthenticated is returned without a valid credential.
	ErrUnauthenticated = errors.New("not authenticated")
	// ErrForbidden is returned when the credential may not do this.
	ErrForbidden = errors.New("forbidden")
	// ErrNotFound is returned for an unknown resource.
	ErrNotFound = errors.New("not found")
	// ErrConflict is returned when a resource exists already.
	ErrConflict = errors.New("conflict")
	// ErrMethodNotAllowed is returned for a known path with another method.
	ErrMethodNotAllowed = errors.New("method not allowed")

	// ErrAKInvalid is returned when AK parameters are not those of a
	// restricted signing key created in a TPM, or were tampered with.
	ErrAKInvalid = errors.New("attestation key invalid")
	// ErrChallengeUnknown is returned for a challenge ID never issued or
	// already forgotten.
	ErrChallengeUnknown = errors.New("challenge unknown")
	// ErrChallengeExpired is returned for a challenge past its expiry.
	ErrChallengeExpired = errors.New("challenge expired")
	// ErrChallengeUsed is returned when a challenge is finished twice.
	ErrChallengeUsed = errors.New("challenge already used")
	// ErrActivation is returned when the activated secret is wrong: the AK
	// is not in the TPM that holds the EK.
	ErrActivation = errors.New("credential activation failed")
	// ErrKeyNotCertified is returned when the TLS key's certification does
	// not verify against the AK, or the CSR is for another key.
	ErrKeyNotCertified = errors.New("key not certified by the attestation key")
	// ErrTokenUnknown, ErrTokenExpired, ErrTokenRevoked and ErrTokenUsedUp
	// are returned for enrollment tokens that cannot be used.
	ErrTokenUnknown = errors.New("enrollment token unknown")
	ErrTokenExpired = errors.New("enrollment token expired")
	ErrTokenRevoked = errors.New("enrollment token revoked")
	ErrTokenUsedUp  = errors.New("enrollment token used up")
	// ErrEKRegistered is returned when the EK already belongs to a site.
	ErrEKRegistered = errors.New("EK already registered")
	// ErrSoftwareNotAllowed is returned for a software identity where the
	// tenant does not allow it.
	ErrSoftwareNotAllowed = errors.New("software identity not allowed")
	// ErrSiteRevoked is returned for a revoked site's certificate or EK.
	ErrSiteRevoked = errors.New("site revoked")
	// ErrTenantConflict is returned when what speaks for a box names more
	// than one tenant.
	ErrTenantConflict = errors.New("tenant conflict")
	// ErrRateLimited is returned when a source sends enrollment requests
	// faster than the tower takes them.
	ErrRateLimited = errors.New("rate limited")
	// ErrPendingFull is returned when the pending queue holds its maximum.
	ErrPendingFull = errors.New("pending queue full")
)

type errInfo struct {
	status int
	code   string
}

var errTable = []struct {
	err error
	errInfo
}{
	{ErrBadRequest, errInfo{http.StatusBadRequest, enrollapi.CodeBadRequest}},
	{ErrTooLarge, errInfo{http.StatusRequestEntityTooLarge, enrollapi.CodeTooLarge}},
	{ErrUnauthenticated, errInfo{http.StatusUnauthorized, enrollapi.CodeUnauthenticated}},
	{ErrForbidden, errInfo{http.StatusForbidden, enrollapi.CodeForbidden}},
	{ErrNotFound, errInfo{http.StatusNotFound, enrollapi.CodeNotFound}},
	{ErrConflict, errInfo{http.StatusConflict, enrollapi.CodeConflict}},
	{ErrMethodNotAllowed, errInfo{http.StatusMethodNotAllowed, enrollapi.CodeMethodNotAllowed}},
	{ErrAKInvalid, errInfo{http.StatusBadRequest, enrollapi.CodeAKInvalid}},
	{ErrChallengeUnknown, errInfo{http.StatusNotFound, enrollapi.CodeChallengeUnknown}},
	{ErrChallengeExpired, errInfo{http.StatusGone, enrollapi.CodeChallengeExpired}},
	{ErrChallengeUsed, errInfo{http.StatusConflict, enrollapi.CodeChallengeUsed}},
	{ErrActivation, errInfo{http.StatusForbidden, enrollapi.CodeActivation}},
	{ErrKeyNotCertified, errInfo{http.StatusForbidden, enrollapi.CodeKeyNotCertified}},
	{ErrTokenUnknown, errInfo{http.StatusForbidden, enrollapi.CodeTokenUnknown}},
	{ErrTokenExpired, errInfo{http.StatusForbidden, enrollapi.CodeTokenExpired}},
	{ErrTokenRevoked, errInfo{http.StatusForbidden, enrollapi.CodeTokenRevoked}},
	{ErrTokenUsedUp, errInfo{http.StatusForbidden, enrollapi.CodeTokenUsedUp}},
	{ErrEKRegistered, errInfo{http.StatusConflict, enrollapi.CodeEKRegistered}},
	{ErrSoftwareNotAllowed, errInfo{http.StatusForbidden, enrollapi.CodeSoftwareNotOK}},
	{ErrSiteRevoked, errInfo{http.StatusForbidden, enrollapi.CodeSiteRevoked}},
	{ErrPendingFull, errInfo{http.StatusServiceUnavailable, enrollapi.CodePendingFull}},
	{ErrTenantConflict, errInfo{http.StatusConflict, enrollapi.CodeTenantConflict}},
	{ErrRateLimited, errInfo{http.StatusTooManyRequests, enrollapi.CodeRateLimited}},
	{ErrNoEscrow, errInfo{http.StatusNotFound, enrollapi.CodeNoEscrow}},
	{ErrNonceUnknown, errInfo{http.StatusForbidden, enrollapi.CodeNonceUnknown}},
	{ErrNonceExpired, errInfo{http.StatusForbidden, enrollapi.CodeNonceExpired}},
	{ErrNonceUsed, errInfo{http.StatusForbidden, enrollapi.CodeNonceUsed}},
	{ErrQuoteInvalid, errInfo{http.StatusForbidden, enrollapi.CodeQuoteInvalid}},
	{ErrUnsealRefused, errInfo{http.StatusForbidden, enrollapi.CodeUnsealRefused}},
}

// apiError is a refusal: a sentinel plus the message for a person.
type apiError struct {
	err error
	msg string
}

func (e *apiError) Error() string { return e.msg }
func (e *apiError) Unwrap() error { return e.err }

// refuse returns sentinel err with a message saying what was wrong and
// what to do.
func refuse(err error, format string, args ...any) error {
	return &apiError{err: err, msg: fmt.Sprintf(format, args...)}
}

// classify returns the status, code and message to send for err. An error
// that is no refusal is a fault of the tower: the client gets a generic
// message and the log gets the cause.
func classify(err error) (errInfo, string, bool) {
	// httpjson.Decode's refusals carry their own status and code.
	if he, ok := errors.AsType[*httpjson.Error](err); ok && he.Status != 0 {
		return errInfo{he.Status, he.Code}, he.Message, true
	}
	for _, e := range errTable {
		if errors.Is(err, e.err) {
			msg := err.Error()
			var ae *apiError
			if errors.As(err, &ae) {
				msg = ae.msg
			}
			return e.errInfo, msg, true
		}
	}
	return errInfo{http.StatusInternalServerError, enrollapi.CodeInternal}, "internal error; the tower log has the cause", false
}

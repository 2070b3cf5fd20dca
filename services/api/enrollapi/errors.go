package enrollapi

import "fmt"

// Error is the body of every refusal the tower sends, on these endpoints and
// on the rest of its API.
type Error struct {
	// Code is stable and meant for programs: one of the Code constants.
	Code string `json:"code"`
	// Message says what was wrong, with which input, and what to do.
	Message string `json:"message"`
}

func (e *Error) Error() string { return fmt.Sprintf("%s: %s", e.Code, e.Message) }

// Codes of refusals. The enrollment codes tell the agent whether to retry:
// CodeChallenge* and CodeActivation mean "start again", the token, EK and
// software codes need a person.
const (
	// CodeBadRequest: the body is not valid JSON of the expected type or a
	// field is malformed.
	CodeBadRequest = "bad_request"
	// CodeTooLarge: the body is larger than the endpoint accepts.
	CodeTooLarge = "too_large"
	// CodeAKInvalid: the AK parameters do not describe a restricted signing
	// key created in a TPM, or were tampered with.
	CodeAKInvalid = "ak_invalid"
	// CodeChallengeUnknown: no such challenge (never issued, or the tower
	// restarted and forgot it).
	CodeChallengeUnknown = "challenge_unknown"
	// CodeChallengeExpired: the challenge is older than its expiry.
	CodeChallengeExpired = "challenge_expired"
	// CodeChallengeUsed: the challenge was already finished once (replay).
	CodeChallengeUsed = "challenge_used"
	// CodeActivation: the activated secret is wrong: the AK is not in the
	// TPM that holds the EK.
	CodeActivation = "activation_failed"
	// CodeKeyNotCertified: the key certification does not verify against
	// the AK, or the CSR is not for the certified key.
	CodeKeyNotCertified = "key_not_certified"
	// CodeTokenUnknown, CodeTokenExpired, CodeTokenRevoked, CodeTokenUsedUp:
	// the enrollment token cannot be used; an operator must issue a new one.
	CodeTokenUnknown = "token_unknown"
	CodeTokenExpired = "token_expired"
	CodeTokenRevoked = "token_revoked"
	CodeTokenUsedUp  = "token_used_up"
	// CodeEKRegistered: the EK already belongs to a registered site. The
	// tower never issues a second identity for one TPM; an operator who
	// knows the site lost its identity allows one re-enrollment of it.
	CodeEKRegistered = "ek_registered"
	// CodeSoftwareNotOK: a software identity was asked for where the
	// tenant's policy does not allow one.
	CodeSoftwareNotOK = "software_identity_not_allowed"
	// CodeSiteRevoked: the site (or the site this EK belongs to) was revoked.
	CodeSiteRevoked = "site_revoked"
	// CodePendingFull: the pending queue is full; retry later, and tell
	// the operator to approve or reject what waits.
	CodePendingFull = "pending_full"
	// CodeUnauthenticated: no valid credential (token or client certificate).
	CodeUnauthenticated = "unauthenticated"
	// CodeForbidden: the credential is valid but may not do this.
	CodeForbidden = "forbidden"
	CodeNotFound  = "not_found"
	CodeConflict  = "conflict"
	CodeInternal  = "internal"
	// CodeMethodNotAllowed: the path exists with other methods, which the
	// Allow header lists.
	CodeMethodNotAllowed = "method_not_allowed"
)

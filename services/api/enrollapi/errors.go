package enrollapi

import "github.com/skerry/skerry/services/httpjson"

// Error is the body of every refusal the tower sends, on these endpoints and
// on the rest of its API: the one error body of every Skerry API,
// {"code": "...", "message": "..."} (httpjson.Error).
type Error = httpjson.Error

// Codes of refusals. The enrollment codes tell the agent whether to retry:
// CodeChallenge* and CodeActivation mean "start again", the token, EK and
// software codes need a person.
const (
	// CodeBadRequest: the body is not valid JSON of the expected type or a
	// field is malformed.
	CodeBadRequest = httpjson.CodeBadRequest
	// CodeTooLarge: the body is larger than the endpoint accepts.
	CodeTooLarge = httpjson.CodeTooLarge
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
	// CodeTenantConflict: what speaks for the box (its enrollment token,
	// claims on its EK or serial) names more than one tenant; an operator
	// must resolve it. The answer names no tenant.
	CodeTenantConflict = "tenant_conflict"
	// CodeRateLimited: too many enrollment requests from this source;
	// retry after the Retry-After header's seconds.
	CodeRateLimited = "rate_limited"
	// CodeBusy: the tower is handling as many requests as it takes.
	CodeBusy = httpjson.CodeBusy
	// CodeTimeout: the request body arrived too slowly.
	CodeTimeout = httpjson.CodeTimeout
	// CodeUnauthenticated: no valid credential (token or client certificate).
	CodeUnauthenticated = httpjson.CodeUnauthenticated
	// CodeForbidden: the credential is valid but may not do this.
	CodeForbidden = httpjson.CodeForbidden
	CodeNotFound  = httpjson.CodeNotFound
	CodeConflict  = httpjson.CodeConflict
	CodeInternal  = httpjson.CodeInternal
	// CodeMethodNotAllowed: the path exists with other methods, which the
	// Allow header lists.
	CodeMethodNotAllowed = httpjson.CodeMethodNotAllowed
)

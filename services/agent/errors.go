package agent

import "errors"

// The agent's sentinel errors; callers check them with errors.Is.
var (
	// ErrNoTPM is returned when the TPM cannot be opened and software
	// identity was not allowed. A box without a TPM enrolls only when its
	// image or site config says so explicitly.
	ErrNoTPM = errors.New("no TPM")

	// ErrConfig is returned when the tower settings cannot work: a URL
	// that is not https, or a CA that is not PEM certificates. Restarting
	// the agent does not help; a new site config does.
	ErrConfig = errors.New("bad tower config")

	// ErrNoEK is returned when the TPM reports no endorsement key.
	ErrNoEK = errors.New("TPM has no endorsement key")

	// ErrIdentityCorrupt is returned when the identity kept in the home
	// directory cannot be read or used: truncated, an unknown version, a
	// certificate that does not match its key, or a key the TPM no longer
	// accepts (a cleared TPM). The agent sets such a file aside and enrolls
	// again.
	ErrIdentityCorrupt = errors.New("identity corrupt")

	// ErrNoIdentity is returned by LoadIdentity when the home directory
	// holds no identity yet: the box has not enrolled.
	ErrNoIdentity = errors.New("no identity")

	// ErrRejected is returned when the tower rejected the enrollment.
	ErrRejected = errors.New("enrollment rejected")

	// ErrTower is returned when the tower answered with an error status;
	// the wrapped message is the tower's own.
	ErrTower = errors.New("tower refused the request")
)

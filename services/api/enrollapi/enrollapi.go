// Package enrollapi holds the wire types that a site's agent and the tower
// exchange to enroll the site and to report its status. The tower and the
// agent both import it, so the protocol is written down once.
//
// The protocol, over HTTPS to the tower URL of the site config (the agent
// verifies the tower with the CA PEM of the same config):
//
//  1. POST [PathEnrollStart] with an [EnrollStart]: the TPM's EK, a fresh
//     attestation key (AK) and what the site says about itself. The tower
//     checks the AK's creation parameters and answers an [EnrollChallenge]:
//     a credential encrypted to the EK that only the TPM holding both the EK
//     and the AK can activate. The challenge expires after a few minutes and
//     can be used once.
//  2. The agent activates the credential with its TPM, creates a signing key
//     in the TPM certified by the AK, and signs a CSR with that key.
//  3. POST [PathEnrollFinish] with an [EnrollFinish]. The tower compares the
//     activated secret, verifies the key certification against the AK, checks
//     that the CSR carries the certified key, and applies its policy (claim,
//     enrollment token, or the pending queue). The [EnrollResult] says
//     registered (with the site certificate), pending (repeat both steps
//     after RetryAfterSeconds) or rejected (an operator said no).
//  4. From then on the agent talks mutual TLS with the certificate, whose
//     common name is the site ID, and POSTs a [StatusReport] to
//     [PathStatus] every ReportIntervalSeconds.
//
// A refusal is an HTTP error status with an [Error] body; its Code is one
// of the Code constants below, so the agent can tell a fault it should
// retry from one a person must fix.
package enrollapi

import (
	"time"

	"github.com/skerry/skerry/services/api/secretapi"
	"github.com/skerry/skerry/services/api/workloadapi"
)

// Paths of the endpoints, relative to the tower URL.
const (
	PathEnrollStart  = "/v1/enroll/start"
	PathEnrollFinish = "/v1/enroll/finish"
	// PathStatus is served only over mutual TLS: "self" is the site named by
	// the client certificate, so a site can never report for another.
	PathStatus = "/v1/sites/self/status"
	// PathRenew is served only over mutual TLS: the site asks for a new
	// certificate for the key of its current one ([Renew]).
	PathRenew = "/v1/sites/self/renew"
	// PathDesired is served only over mutual TLS: the apps the site should
	// run ([Desired]). With ?wait=REVISION the tower holds the request until
	// the revision differs or about 30 s pass, then answers the current
	// state either way.
	PathDesired = "/v1/sites/self/desired"
)

// Desired is the set of apps a site should run: the newest matching
// deployment's app version of each of its tenant's apps, by name.
// Revision changes whenever the set does (it is a hash of Apps), so a
// site long-polls with ?wait= the revision it has.
type Desired struct {
	Revision string                 `json:"revision"`
	Apps     []*workloadapi.AppSpec `json:"apps"`
	// Secrets are the tenant's secrets set at the tower whose selector
	// matches the site, each sealed to the site vault's key named by
	// SiteKeyID (services/api/secretapi). SiteKeyID is empty while the
	// tower has no key of the site's vault: the site then has no news
	// about secrets (and must not delete any). The agent hands them to
	// the vault, which deletes the tower's secrets no longer listed.
	Secrets   []secretapi.Envelope `json:"secrets,omitempty"`
	SiteKeyID string               `json:"siteKeyId,omitempty"`
	// Quotas are the quotas set at the tower of the tenants whose apps
	// the site runs, by tenant: the agent hands them to the workload
	// service whole (PUT /v1/quotas), and a tenant not here gets the
	// site's default (skerry-workload -tenant-*). Always sent, {} for
	// none; absent (a tower that predates quotas) means no news, and the
	// site keeps the quotas it has.
	Quotas map[string]workloadapi.Resources `json:"quotas"`
}

// MaxReportApps bounds the app statuses of one status report and
// MaxReportText each of their texts, so a report fits MaxBodyBytes.
const (
	MaxReportApps = 100
	MaxReportText = 256
)

// Renew asks for a new site certificate before the current one expires.
// The CSR must be signed by, and for, the key of the certificate the
// request is made with: the TPM-held key stays, only the certificate is
// new. The tower answers an [EnrollResult] with Certificate and
// CACertificate. The old certificate keeps working until the new one is
// first used, so an agent that dies before saving the new one is not
// locked out.
type Renew struct {
	CSR []byte `json:"csr"`
}

// HeaderReportInterval is set on every answer to a status report: the
// number of seconds the tower wants between reports. The tower counts a
// site online while reports arrive within three intervals.
const HeaderReportInterval = "Skerry-Report-Interval"

// HeaderUplinkAddress is set on every answer to a status report when the
// tower receives uplinked records: EnrollResult.UplinkAddress as of now,
// so sites enrolled earlier, or before the address changed, learn it.
const HeaderUplinkAddress = "Skerry-Uplink-Address"

// MaxBodyBytes bounds every enrollment and status request body; the tower
// refuses larger ones with CodeTooLarge.
const MaxBodyBytes = 64 << 10

// Status of an enrollment.
const (
	StatusRegistered = "registered"
	StatusPending    = "pending"
	StatusRejected   = "rejected"
)

// EnrollStart opens an enrollment.
type EnrollStart struct {
	// EKPublic is the TPM's endorsement key, PKIX DER. Empty when Software.
	EKPublic []byte `json:"ekPublic,omitempty"`
	// EKCertificate is the EK certificate from the TPM's NV, DER, when the
	// TPM has one. The tower records it; this version does not require it.
	EKCertificate []byte `json:"ekCertificate,omitempty"`
	// AK describes the attestation key just created in the TPM.
	// Empty when Software.
	AK AttestationParameters `json:"ak,omitzero"`
	// Serial is the board's serial number, when it has one. It is only as
	// trustworthy as the box; a claim by serial is weaker than by EK.
	Serial       string `json:"serial,omitempty"`
	Hostname     string `json:"hostname,omitempty"`
	AgentVersion string `json:"agentVersion,omitempty"`
	ImageVersion string `json:"imageVersion,omitempty"`
	// Token is the enrollment token from the site config, if any.
	Token string `json:"token,omitempty"`
	// Software says the box has no TPM: its key lives in software and
	// nothing proves which box holds it. The tower allows this only when
	// the token's or claim's tenant permits software identity.
	Software bool `json:"software,omitempty"`
}

// AttestationParameters mirrors go-attestation's attest.AttestationParameters
// (TPM 2.0 encodings); AttestationParametersFrom and Attest convert.
type AttestationParameters struct {
	Public                  []byte `json:"public"`            // TPMT_PUBLIC
	CreateData              []byte `json:"createData"`        // TPMS_CREATION_DATA
	CreateAttestation       []byte `json:"createAttestation"` // TPMS_ATTEST
	CreateSignature         []byte `json:"createSignature"`   // TPMT_SIGNATURE
	UseTCSDActivationFormat bool   `json:"useTCSDActivationFormat,omitempty"`
}

// EnrollChallenge answers EnrollStart. For a TPM enrollment, Credential and
// Secret are go-attestation's attest.EncryptedCredential: pass them to
// AK.ActivateCredential. For a software enrollment both are empty.
type EnrollChallenge struct {
	ChallengeID string    `json:"challengeId"`
	Credential  []byte    `json:"credential,omitempty"`
	Secret      []byte    `json:"secret,omitempty"`
	ExpiresAt   time.Time `json:"expiresAt"`
}

// EnrollFinish completes an enrollment.
type EnrollFinish struct {
	ChallengeID string `json:"challengeId"`
	// ActivatedSecret is what the TPM returned from activating the
	// challenge's credential. Empty when Software.
	ActivatedSecret []byte `json:"activatedSecret,omitempty"`
	// Key is a TPM signing key created under and certified by the AK: the
	// key of the site's TLS certificate. Empty when Software.
	Key CertificationParameters `json:"key,omitzero"`
	// CSR is a PKCS#10 request, DER, signed by Key (or by the software key).
	// The tower takes only the public key from it: it sets the subject
	// (CN = site ID) and the usages itself.
	CSR []byte `json:"csr"`
}

// CertificationParameters mirrors go-attestation's
// attest.CertificationParameters (TPM 2.0 encodings).
type CertificationParameters struct {
	Public            []byte `json:"public"`            // TPMT_PUBLIC
	CreateData        []byte `json:"createData"`        // TPMS_CREATION_DATA
	CreateAttestation []byte `json:"createAttestation"` // TPMS_ATTEST
	CreateSignature   []byte `json:"createSignature"`   // TPMT_SIGNATURE
}

// EnrollResult answers EnrollFinish.
type EnrollResult struct {
	// Status is StatusRegistered, StatusPending or StatusRejected.
	Status string `json:"status"`
	// SiteID is the site's identity, and the CN of its certificate. Set
	// when registered.
	SiteID string `json:"siteId,omitempty"`
	// Certificate is the site's client certificate, DER, when registered.
	Certificate []byte `json:"certificate,omitempty"`
	// CACertificate is the tower CA, DER: it signs the site certificate and
	// the tower's server certificate.
	CACertificate []byte `json:"caCertificate,omitempty"`
	// Message says what happens next, for the agent's log.
	Message string `json:"message,omitempty"`
	// RetryAfterSeconds is how long a pending agent waits before it enrolls
	// again (start and finish, with a new challenge).
	RetryAfterSeconds int `json:"retryAfterSeconds,omitempty"`
	// ReportIntervalSeconds is how often a registered agent reports status.
	ReportIntervalSeconds int `json:"reportIntervalSeconds,omitempty"`
	// Software is true when the site holds a software identity.
	Software bool `json:"software,omitempty"`
	// UplinkAddress is where the site's uplink sends its records (MQTT
	// over TLS, host:port): the tower's embedded hub, reached by the host
	// the site used for the tower, unless the tower was told otherwise.
	// Empty when the tower receives no uplink. The agent keeps it in
	// identity.json as "uplink".
	UplinkAddress string `json:"uplinkAddress,omitempty"`
}

// StatusReport is what a registered site reports over mutual TLS. The tower
// answers 204 No Content with HeaderReportInterval set.
type StatusReport struct {
	AgentVersion  string `json:"agentVersion,omitempty"`
	ImageVersion  string `json:"imageVersion,omitempty"`
	UptimeSeconds int64  `json:"uptimeSeconds"`
	// BootID is the kernel's boot ID (/proc/sys/kernel/random/boot_id), so
	// the tower sees a reboot even between two reports.
	BootID string `json:"bootId,omitempty"`
	// Apps is each app's status as the site's workload service sees it
	// (at most MaxReportApps, each text at most MaxReportText bytes); absent when the site runs no workload
	// service.
	Apps []workloadapi.Status `json:"apps,omitempty"`
	// Vault is the vault's state; absent when the site runs none.
	Vault *VaultReport `json:"vault,omitempty"`
	// VaultKey is the public half of the site vault's key pair (X25519,
	// 32 bytes), which the tower seals the site's secrets to; absent
	// while the vault is sealed or away.
	VaultKey []byte `json:"vaultKey,omitempty"`
}

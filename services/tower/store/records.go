package store

import (
	"time"

	"github.com/skerry/skerry/services/api/towerapi"
	"github.com/skerry/skerry/services/api/workloadapi"
)

// Tenant is an organisation whose sites the tower manages.
type Tenant struct {
	ID   string `json:"id"` // a slug: lowercase letters, digits, '-'
	Name string `json:"name,omitempty"`
	// AllowSoftwareIdentity lets boxes without a TPM enroll into the tenant
	// (by claim on serial or by token). Off by default: nothing proves
	// which box holds a software key.
	AllowSoftwareIdentity bool      `json:"allowSoftwareIdentity"`
	CreatedAt             time.Time `json:"createdAt"`
	// Quota bounds the tenant's apps together on each of its sites (the
	// workload service's tenant cgroup); nil: each site's default.
	Quota *workloadapi.Resources `json:"quota,omitempty"`
}

// Roles of operator tokens.
const (
	RoleOperator     = "operator"      // everything, every tenant
	RoleTenantAdmin  = "tenant-admin"  // read and change one tenant
	RoleTenantReader = "tenant-reader" // read one tenant
)

// OperatorToken authenticates a person or a script on the API. The tower
// keeps only the SHA-256 of the secret.
type OperatorToken struct {
	ID        string    `json:"id"`
	Hash      []byte    `json:"hash"`
	Name      string    `json:"name,omitempty"`
	Role      string    `json:"role"`
	Tenant    string    `json:"tenant,omitempty"` // for tenant roles
	CreatedAt time.Time `json:"createdAt"`
	CreatedBy string    `json:"createdBy,omitempty"`
	Revoked   bool      `json:"revoked,omitempty"`
}

// EnrollToken lets boxes enroll into a tenant without a claim or approval.
type EnrollToken struct {
	ID          string            `json:"id"`
	Hash        []byte            `json:"hash"`
	Tenant      string            `json:"tenant"`
	Description string            `json:"description,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"` // given to the sites
	ExpiresAt   time.Time         `json:"expiresAt"`
	MaxUses     int               `json:"maxUses"` // 0: unlimited
	Uses        int               `json:"uses"`
	Revoked     bool              `json:"revoked,omitempty"`
	CreatedAt   time.Time         `json:"createdAt"`
}

// Claim pre-assigns a box, by EK hash or by serial, to a tenant and name.
type Claim struct {
	// ID is "ek:<sha256 hex>" or "serial:<serial>".
	ID        string            `json:"id"`
	Tenant    string            `json:"tenant"`
	SiteName  string            `json:"siteName"`
	Labels    map[string]string `json:"labels,omitempty"`
	CreatedAt time.Time         `json:"createdAt"`
	// UsedBy is the site that enrolled with the claim; a used claim
	// matches no other box.
	UsedBy string `json:"usedBy,omitempty"`
}

// States of a pending-queue entry.
const (
	PendingWaiting  = "pending"
	PendingApproved = "approved"
	PendingRejected = "rejected"
)

// Pending is a box that proved its EK but matched no claim and had no
// token: it waits for an operator.
type Pending struct {
	EKHash       string    `json:"ekHash"`
	Serial       string    `json:"serial,omitempty"`
	Hostname     string    `json:"hostname,omitempty"`
	AgentVersion string    `json:"agentVersion,omitempty"`
	ImageVersion string    `json:"imageVersion,omitempty"`
	HasEKCert    bool      `json:"hasEKCertificate"`
	EKTrusted    bool      `json:"ekTrusted,omitempty"` // a hardware identity (see ektrust)
	FirstSeen    time.Time `json:"firstSeen"`
	LastSeen     time.Time `json:"lastSeen"`
	Attempts     int       `json:"attempts"`
	State        string    `json:"state"`
	// Tenant, SiteName and Labels are set on approval.
	Tenant    string            `json:"tenant,omitempty"`
	SiteName  string            `json:"siteName,omitempty"`
	Labels    map[string]string `json:"labels,omitempty"`
	DecidedBy string            `json:"decidedBy,omitempty"`
}

// Site is a registered box.
type Site struct {
	ID       string            `json:"id"`
	Name     string            `json:"name"`
	Tenant   string            `json:"tenant"`
	Labels   map[string]string `json:"labels,omitempty"`
	EKHash   string            `json:"ekHash,omitempty"` // empty for software identity
	Serial   string            `json:"serial,omitempty"`
	Hostname string            `json:"hostname,omitempty"`
	// Software is true when the site's key is not held by a TPM.
	Software     bool      `json:"softwareIdentity"`
	CertSerial   string    `json:"certificateSerial"` // hex; only this certificate is accepted
	CertNotAfter time.Time `json:"certificateNotAfter"`
	// NextCert is a renewal not yet used (see Server.renew).
	NextCert *NextCert `json:"nextCert,omitempty"`
	// EnrolledVia is "claim", "token:<id>" or "approval".
	EnrolledVia     string    `json:"enrolledVia"`
	EnrolledAt      time.Time `json:"enrolledAt"`
	Enrollments     int       `json:"enrollments"`
	FirstSeen       time.Time `json:"firstSeen,omitzero"` // first status report
	LastSeen        time.Time `json:"lastSeen,omitzero"`
	AgentVersion    string    `json:"agentVersion,omitempty"`
	ImageVersion    string    `json:"imageVersion,omitempty"`
	BootID          string    `json:"bootId,omitempty"`
	UptimeSeconds   int64     `json:"uptimeSeconds,omitempty"`
	Revoked         bool      `json:"revoked,omitempty"`
	RevokedAt       time.Time `json:"revokedAt,omitzero"`
	ReenrollAllowed bool      `json:"reenrollAllowed,omitempty"`
	// Apps is each app's status from the last status report.
	Apps []workloadapi.Status `json:"apps,omitempty"`
	// Vault is the vault's state from the last status report.
	Vault *SiteVault `json:"vault,omitempty"`
	// VaultKey is the public half of the site vault's key pair, from the
	// last status report: the tower seals the site's secrets to it.
	VaultKey []byte `json:"vaultKey,omitempty"`
}

// NextCert is a renewed certificate not yet used: the site's current
// certificate stays valid until the site first uses this one.
type NextCert struct {
	Serial   string    `json:"serial"`
	NotAfter time.Time `json:"notAfter"`
}

// Challenge is an issued credential-activation challenge, kept until it
// expires so that a replay is told apart from an unknown ID.
type Challenge struct {
	ID        string `json:"id"`
	Secret    []byte `json:"secret,omitempty"` // expected activated secret
	EKHash    string `json:"ekHash,omitempty"`
	AKPublic  []byte `json:"akPublic,omitempty"` // TPMT_PUBLIC
	HasEKCert bool   `json:"hasEKCertificate,omitempty"`
	// EKTrusted: the EK certificate chains to a TPM maker the tower
	// trusts. A TPM without it is a software identity.
	EKTrusted bool      `json:"ekTrusted,omitempty"`
	Software  bool      `json:"software,omitempty"`
	Serial    string    `json:"serial,omitempty"`
	Hostname  string    `json:"hostname,omitempty"`
	Agent     string    `json:"agentVersion,omitempty"`
	Image     string    `json:"imageVersion,omitempty"`
	TokenHash []byte    `json:"tokenHash,omitempty"`
	ExpiresAt time.Time `json:"expiresAt"`
	Used      bool      `json:"used,omitempty"`
}

// App is one version of a tenant's app spec. Every store of a spec is a
// new version; old versions stay so a deployment can name any of them.
type App struct {
	Tenant    string               `json:"tenant"`
	Name      string               `json:"name"`
	Version   int                  `json:"version"` // from 1, per tenant and name
	Spec      *workloadapi.AppSpec `json:"spec"`
	CreatedAt time.Time            `json:"createdAt"`
	CreatedBy string               `json:"createdBy,omitempty"`
}

// Deployment assigns one version of an app to the tenant's sites whose
// labels match Selector (every key equal; an empty selector matches every
// site of the tenant). There is at most one per app.
type Deployment struct {
	Tenant    string            `json:"tenant"`
	App       string            `json:"app"`
	Version   int               `json:"version"`
	Selector  map[string]string `json:"selector"`
	CreatedAt time.Time         `json:"createdAt"`
	CreatedBy string            `json:"createdBy,omitempty"`
	// Strategy and Rollout are nil for a deployment that reaches every
	// selected site at once; the tower's rollout*.go keep Rollout.
	Strategy *towerapi.Strategy `json:"strategy,omitempty"`
	Rollout  *towerapi.Rollout  `json:"rollout,omitempty"`
}

// Matches reports whether the deployment selects a site with labels.
func (d Deployment) Matches(labels map[string]string) bool {
	for k, v := range d.Selector {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// Secret is a tenant's secret set at the tower for the sites its
// selector matches (as a Deployment's). The value is sealed under the
// tower's secret key (AES-256-GCM, tenant, name and version as
// associated data): the store alone does not give it away.
type Secret struct {
	Tenant    string            `json:"tenant"`
	Name      string            `json:"name"`
	Version   int               `json:"version"`
	Selector  map[string]string `json:"selector"`
	Sealed    []byte            `json:"sealed"`
	CreatedAt time.Time         `json:"createdAt"`
	CreatedBy string            `json:"createdBy,omitempty"`
}

// Matches reports whether the secret goes to a site with labels.
func (s Secret) Matches(labels map[string]string) bool {
	return Deployment{Selector: s.Selector}.Matches(labels)
}

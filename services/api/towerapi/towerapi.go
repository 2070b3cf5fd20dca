// Package towerapi holds the wire types of the tower's operator API (under
// /v1, authenticated with "Authorization: Bearer <operator token>") and a
// small client for it, used by skerryctl and the tests. Enrollment and
// status reporting, the sites' side, are in package enrollapi.
//
// docs/openapi/tower.yaml describes every route; a test in package tower
// checks it against the routes the tower serves.
package towerapi

import (
	"time"

	"github.com/skerry/skerry/services/api/workloadapi"
)

// List is one page of a list. Pass NextCursor as ?cursor= for the next
// page; it is empty on the last one.
type List[T any] struct {
	Items      []T    `json:"items"`
	NextCursor string `json:"nextCursor,omitempty"`
}

// WhoAmI describes the caller's token.
type WhoAmI struct {
	TokenID string `json:"tokenId"`
	Role    string `json:"role"`
	Tenant  string `json:"tenant,omitempty"`
}

// Tenant is an organisation whose sites the tower manages.
type Tenant struct {
	ID                    string    `json:"id"`
	Name                  string    `json:"name,omitempty"`
	AllowSoftwareIdentity bool      `json:"allowSoftwareIdentity"`
	CreatedAt             time.Time `json:"createdAt,omitzero"`
	// Quota bounds all the tenant's apps together on each of its sites
	// (CPU, memory, pids of the tenant's cgroup there); absent: each
	// site's default (skerry-workload -tenant-*). It reaches the sites
	// in their desired state.
	Quota *workloadapi.Resources `json:"quota,omitempty"`
}

// TenantUpdate changes a tenant's policy; nil fields stay. A Quota with
// no field set ({}) removes the tenant's quota: its sites' defaults apply.
type TenantUpdate struct {
	Name                  *string                `json:"name,omitempty"`
	AllowSoftwareIdentity *bool                  `json:"allowSoftwareIdentity,omitempty"`
	Quota                 *workloadapi.Resources `json:"quota,omitempty"`
}

// OperatorToken describes an operator token; the secret is shown only in
// OperatorTokenCreated.
type OperatorToken struct {
	ID        string    `json:"id"`
	Name      string    `json:"name,omitempty"`
	Role      string    `json:"role"`
	Tenant    string    `json:"tenant,omitempty"`
	CreatedAt time.Time `json:"createdAt,omitzero"`
	CreatedBy string    `json:"createdBy,omitempty"`
	Revoked   bool      `json:"revoked,omitempty"`
}

// OperatorTokenCreate asks for a new operator token.
type OperatorTokenCreate struct {
	Name   string `json:"name,omitempty"`
	Role   string `json:"role"` // operator, tenant-admin, tenant-reader
	Tenant string `json:"tenant,omitempty"`
}

// OperatorTokenCreated carries the secret, once.
type OperatorTokenCreated struct {
	OperatorToken
	Token string `json:"token"`
}

// EnrollToken describes an enrollment token.
type EnrollToken struct {
	ID          string            `json:"id"`
	Tenant      string            `json:"tenant"`
	Description string            `json:"description,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	ExpiresAt   time.Time         `json:"expiresAt"`
	MaxUses     int               `json:"maxUses"`
	Uses        int               `json:"uses"`
	Revoked     bool              `json:"revoked,omitempty"`
	CreatedAt   time.Time         `json:"createdAt,omitzero"`
	// State is "valid", "expired", "revoked" or "used-up".
	State string `json:"state"`
}

// EnrollTokenCreate asks for a new enrollment token.
type EnrollTokenCreate struct {
	Tenant      string            `json:"tenant"`
	Description string            `json:"description,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	// TTLSeconds is how long the token is valid; default one day.
	TTLSeconds int64 `json:"ttlSeconds,omitempty"`
	// MaxUses is how many sites may enroll with it; 0 means no limit.
	MaxUses int `json:"maxUses,omitempty"`
}

// EnrollTokenCreated carries the secret, once: put it in the site config.
type EnrollTokenCreated struct {
	EnrollToken
	Token string `json:"token"`
}

// Claim pre-assigns a box to a tenant and site name.
type Claim struct {
	ID        string            `json:"id"` // "ek:<sha256 hex>" or "serial:<serial>"
	Tenant    string            `json:"tenant"`
	SiteName  string            `json:"siteName"`
	Labels    map[string]string `json:"labels,omitempty"`
	CreatedAt time.Time         `json:"createdAt,omitzero"`
	UsedBy    string            `json:"usedBy,omitempty"`
}

// ClaimCreate creates a claim on exactly one of EKHash and Serial.
type ClaimCreate struct {
	EKHash   string            `json:"ekHash,omitempty"` // sha256 of the EK's PKIX DER, hex
	Serial   string            `json:"serial,omitempty"`
	Tenant   string            `json:"tenant"`
	SiteName string            `json:"siteName"`
	Labels   map[string]string `json:"labels,omitempty"`
}

// Pending is a box waiting for approval.
type Pending struct {
	EKHash           string `json:"ekHash"`
	Serial           string `json:"serial,omitempty"`
	Hostname         string `json:"hostname,omitempty"`
	AgentVersion     string `json:"agentVersion,omitempty"`
	ImageVersion     string `json:"imageVersion,omitempty"`
	HasEKCertificate bool   `json:"hasEKCertificate"`
	// SoftwareIdentity: no EK certificate from a TPM maker the tower
	// trusts; only a tenant that allows software identity takes the box.
	SoftwareIdentity bool              `json:"softwareIdentity"`
	FirstSeen        time.Time         `json:"firstSeen"`
	LastSeen         time.Time         `json:"lastSeen"`
	Attempts         int               `json:"attempts"`
	State            string            `json:"state"` // pending, approved, rejected
	Tenant           string            `json:"tenant,omitempty"`
	SiteName         string            `json:"siteName,omitempty"`
	Labels           map[string]string `json:"labels,omitempty"`
}

// Approve lets a pending box register into a tenant under a name at its
// next attempt.
type Approve struct {
	Tenant   string            `json:"tenant"`
	SiteName string            `json:"siteName"`
	Labels   map[string]string `json:"labels,omitempty"`
}

// Site states.
const (
	SiteOnline        = "online"
	SiteOffline       = "offline"
	SiteNeverReported = "never-reported"
	SiteRevoked       = "revoked"
)

// Site is a registered box.
type Site struct {
	ID       string            `json:"id"`
	Name     string            `json:"name"`
	Tenant   string            `json:"tenant"`
	Labels   map[string]string `json:"labels,omitempty"`
	EKHash   string            `json:"ekHash,omitempty"`
	Serial   string            `json:"serial,omitempty"`
	Hostname string            `json:"hostname,omitempty"`
	// SoftwareIdentity is true when no TPM holds the site's key: nothing
	// proves which box it is. Every view of a site shows it.
	SoftwareIdentity    bool      `json:"softwareIdentity"`
	CertificateSerial   string    `json:"certificateSerial"`
	CertificateNotAfter time.Time `json:"certificateNotAfter"`
	EnrolledVia         string    `json:"enrolledVia"`
	EnrolledAt          time.Time `json:"enrolledAt"`
	FirstSeen           time.Time `json:"firstSeen,omitzero"`
	LastSeen            time.Time `json:"lastSeen,omitzero"`
	Online              bool      `json:"online"`
	State               string    `json:"state"`
	AgentVersion        string    `json:"agentVersion,omitempty"`
	ImageVersion        string    `json:"imageVersion,omitempty"`
	BootID              string    `json:"bootId,omitempty"`
	UptimeSeconds       int64     `json:"uptimeSeconds,omitempty"`
	Revoked             bool      `json:"revoked,omitempty"`
	RevokedAt           time.Time `json:"revokedAt,omitzero"`
	ReenrollAllowed     bool      `json:"reenrollAllowed,omitempty"`
	// Apps is each app's status as the site last reported it.
	Apps []workloadapi.Status `json:"apps,omitempty"`
	// Vault is the vault's state as the site last reported it.
	Vault *VaultReport `json:"vault,omitempty"`
	// Uplink is each topic the site uplinked to this tower, as the tower
	// holds it (GET /v1/sites/{site} only; the topics the caller may see).
	Uplink []SiteTopic `json:"uplink,omitempty"`
}

// SiteTopic is one of a site's topics as uplinked to the tower
// (GET /v1/sites/{site}/topics). Offsets and times are the site's.
type SiteTopic struct {
	Tenant string `json:"tenant"`
	Name   string `json:"name"`
	// Records is how many records the tower holds, FirstOffset the site
	// offset of the oldest and NextOffset one past the newest (the next
	// site offset the tower expects); both 0 while it holds none.
	Records     uint64 `json:"records"`
	FirstOffset uint64 `json:"firstOffset"`
	NextOffset  uint64 `json:"nextOffset"`
	// LastTime is when the site appended the newest record held.
	LastTime time.Time `json:"lastTime,omitzero"`
	Bytes    int64     `json:"bytes"`
	// LagSeconds is now minus LastTime, in the site view only: how far
	// behind the site's clock the tower's copy is, if the site is
	// producing.
	LagSeconds float64 `json:"lagSeconds,omitempty"`
}

// TopicRecord is one uplinked record with the site's offset and append
// time; Key, header values and Value are base64 in JSON.
type TopicRecord struct {
	Offset  uint64         `json:"offset"`
	Time    time.Time      `json:"time"`
	Key     []byte         `json:"key,omitempty"`
	Headers []RecordHeader `json:"headers,omitempty"`
	Value   []byte         `json:"value"`
}

// RecordHeader is one header of a record, as the site wrote it.
type RecordHeader struct {
	Key   string `json:"key"`
	Value []byte `json:"value"`
}

// TopicRecords answers GET /v1/sites/{site}/topics/{tenant}/{name}/records:
// records in site offset order and Next, the offset to ask for next.
type TopicRecords struct {
	Records []TopicRecord `json:"records"`
	Next    uint64        `json:"next"`
}

// App is one stored version of a tenant's app spec
// (PUT /v1/tenants/{tenant}/apps/{name} stores a new version).
type App struct {
	Tenant    string               `json:"tenant"`
	Name      string               `json:"name"`
	Version   int                  `json:"version"`
	Spec      *workloadapi.AppSpec `json:"spec"`
	CreatedAt time.Time            `json:"createdAt"`
	CreatedBy string               `json:"createdBy,omitempty"`
}

// DeploymentSet assigns an app version to the tenant's sites whose labels
// match Selector (PUT /v1/tenants/{tenant}/deployments/{app}); an empty
// selector selects every site of the tenant.
type DeploymentSet struct {
	Version  int               `json:"version"`
	Selector map[string]string `json:"selector"`
	// Strategy rolls the version out step by step; nil reaches every
	// selected site at once.
	Strategy *Strategy `json:"strategy,omitempty"`
}

// Deployment is a stored deployment.
type Deployment struct {
	Tenant    string            `json:"tenant"`
	App       string            `json:"app"`
	Version   int               `json:"version"`
	Selector  map[string]string `json:"selector"`
	CreatedAt time.Time         `json:"createdAt"`
	CreatedBy string            `json:"createdBy,omitempty"`
	Strategy  *Strategy         `json:"strategy,omitempty"`
	Rollout   *Rollout          `json:"rollout,omitempty"`
}

// Strategy is how a deployment reaches its sites (services/tower README,
// "Rollouts"): a canary step of Canary sites that must stay healthy for
// CanaryHealthySeconds, then batches of BatchSize sites (0: every other
// site in one batch), each healthy for BatchHealthySeconds before the
// next. MaxFailures failed sites, or a MaxFailureFraction of the sites
// reached so far, stop the rollout: OnFailure says whether it then rolls
// back to the previous version ("rollback", the default) or pauses
// ("pause"). A reached site that is online and not healthy on the new
// version within SiteTimeoutSeconds has failed; one that stayed offline
// is skipped (neither healthy nor failed). A deployment without a
// strategy reaches every selected site at once.
type Strategy struct {
	Canary               int     `json:"canary,omitempty"`
	CanaryHealthySeconds int64   `json:"canaryHealthySeconds,omitempty"`
	BatchSize            int     `json:"batchSize,omitempty"`
	BatchHealthySeconds  int64   `json:"batchHealthySeconds,omitempty"`
	MaxFailures          int     `json:"maxFailures,omitempty"`
	MaxFailureFraction   float64 `json:"maxFailureFraction,omitempty"`
	OnFailure            string  `json:"onFailure,omitempty"`
	SiteTimeoutSeconds   int64   `json:"siteTimeoutSeconds,omitempty"`
}

// Strategy.OnFailure values.
const (
	OnFailureRollback = "rollback"
	OnFailurePause    = "pause"
)

// Rollout states.
const (
	RolloutProgressing = "progressing"
	RolloutPaused      = "paused"
	RolloutCompleted   = "completed"
	RolloutRolledBack  = "rolledBack"
)

// Rollout site and step states.
const (
	RolloutWaiting  = "waiting"  // not reached: runs the previous version
	RolloutUpdating = "updating" // reached, not yet healthy on the new version (or offline, within the site timeout)
	RolloutHealthy  = "healthy"
	RolloutFailed   = "failed"
	RolloutSkipped  = "skipped" // reached, offline past the site timeout: neither healthy nor failed
)

// Rollout is a deployment's progress: Step is the index of the current
// step in Steps; sites of steps up to it run the new version, the others
// the Previous one (0: none).
type Rollout struct {
	State     string        `json:"state"`
	Reason    string        `json:"reason,omitempty"`
	Previous  int           `json:"previousVersion,omitempty"`
	Step      int           `json:"step"`
	Steps     []RolloutStep `json:"steps"`
	Sites     []RolloutSite `json:"sites"`
	Failed    int           `json:"failed"`
	UpdatedAt time.Time     `json:"updatedAt"`
}

// RolloutStep is one step: the canary or a batch.
type RolloutStep struct {
	Name           string    `json:"name"` // "canary", "batch 1", ...
	Sites          int       `json:"sites"`
	HealthySeconds int64     `json:"healthySeconds"`
	State          string    `json:"state"` // waiting, updating, healthy (done)
	StartedAt      time.Time `json:"startedAt,omitzero"`
	HealthySince   time.Time `json:"healthySince,omitzero"`
	DoneAt         time.Time `json:"doneAt,omitzero"`
}

// RolloutSite is one site's part in a rollout.
type RolloutSite struct {
	Site    string    `json:"site"`
	Name    string    `json:"name"`
	Step    int       `json:"step"`
	State   string    `json:"state"`
	Version int       `json:"version"` // the version it should run now
	Since   time.Time `json:"since"`
	Reason  string    `json:"reason,omitempty"`
}

// SecretSet is the body of PUT /v1/tenants/{tenant}/secrets/{name}: a new
// version of a tenant's secret for the tenant's sites whose labels match
// Selector (empty: every site of the tenant). Value travels as base64; the
// tower never answers it back.
type SecretSet struct {
	Value    []byte            `json:"value"`
	Selector map[string]string `json:"selector"`
}

// SecretKeyRotated is the answer of POST /v1/secret-key/rotate: the new
// key's ID (a hash, never the key) and how many stored secrets were
// sealed again under it.
type SecretKeyRotated struct {
	KeyID    string `json:"keyId"`
	Resealed int    `json:"resealed"`
}

// Secret describes a stored secret: never its value.
type Secret struct {
	Tenant    string            `json:"tenant"`
	Name      string            `json:"name"`
	Version   int               `json:"version"`
	Selector  map[string]string `json:"selector"`
	CreatedAt time.Time         `json:"createdAt"`
	CreatedBy string            `json:"createdBy,omitempty"`
}

package towerapi

import (
	"time"

	"github.com/skerry/skerry/services/api/enrollapi"
)

// VaultReport is a site's vault state as its agent reports it.
type VaultReport = enrollapi.VaultReport

// UnsealRequest is a site's ask for its vault key with one set of PCR
// values (GET /v1/vault/requests). PCRs maps the sealed PCR indexes to
// the hex SHA-256 values the site's TPM quoted.
type UnsealRequest struct {
	ID          string            `json:"id"`
	Site        string            `json:"site"`
	Tenant      string            `json:"tenant"`
	SiteName    string            `json:"siteName"`
	State       string            `json:"state"` // pending, approved, refused, released
	PCRs        map[string]string `json:"pcrs"`
	ChangedPCRs []int             `json:"changedPcrs,omitempty"`
	// ImageVersion is what the site reported: a hint for the operator,
	// not proof (the PCR values are).
	ImageVersion string    `json:"imageVersion,omitempty"`
	HasEventLog  bool      `json:"hasEventLog"`
	CreatedAt    time.Time `json:"createdAt"`
	LastAsked    time.Time `json:"lastAsked"`
	Asks         int       `json:"asks"`
	DecidedBy    string    `json:"decidedBy,omitempty"`
	DecidedAt    time.Time `json:"decidedAt,omitzero"`
	ReleasedAt   time.Time `json:"releasedAt,omitzero"`
	Approval     string    `json:"approval,omitempty"`
}

// PCRApproval approves PCR values for every site of a tenant (or of every
// tenant, operators only): POST /v1/vault/pcr-approvals.
type PCRApproval struct {
	ID           string            `json:"id"`
	Tenant       string            `json:"tenant,omitempty"`
	ImageVersion string            `json:"imageVersion,omitempty"`
	PCRs         map[string]string `json:"pcrs"`
	CreatedAt    time.Time         `json:"createdAt"`
	CreatedBy    string            `json:"createdBy,omitempty"`
}

// PCRApprovalCreate is the body of POST /v1/vault/pcr-approvals: either
// PCRs, or FromRequest (the values of that unseal request, e.g. a canary
// box's after an update). Tenant defaults to the request's; with PCRs and
// no tenant the approval is for every tenant (operators only).
type PCRApprovalCreate struct {
	Tenant       string            `json:"tenant,omitempty"`
	ImageVersion string            `json:"imageVersion,omitempty"`
	PCRs         map[string]string `json:"pcrs,omitempty"`
	FromRequest  string            `json:"fromRequest,omitempty"`
}

// SiteVault is a site's vault as the tower knows it: its last reported
// state and whether its key is escrowed (GET /v1/sites/{site}/vault).
type SiteVault struct {
	Site        string         `json:"site"`
	Reported    *VaultReport   `json:"reported,omitempty"`
	Escrowed    bool           `json:"escrowed"`
	Generation  int            `json:"generation,omitempty"`
	EscrowedAt  time.Time      `json:"escrowedAt,omitzero"`
	OpenRequest *UnsealRequest `json:"openRequest,omitempty"`
}

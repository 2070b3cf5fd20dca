package towerapi

import "time"

// HubCreate asks the tower for an intermediate hub's certificate (POST
// /v1/hubs): the hub made its key and sends a certificate request for it,
// so the key never leaves the hub's machine.
type HubCreate struct {
	// ID is the hub's name, the certificate's CN (a site ID's rules:
	// lowercase letters, digits, '-', '_', '.').
	ID string `json:"id"`
	// CSR is a PEM certificate request signed by the hub's key.
	CSR string `json:"csr"`
	// Hosts are the DNS names and IP addresses the hub's sites dial; the
	// certificate serves TLS under them. Empty: a hub that only forwards.
	Hosts []string `json:"hosts,omitempty"`
}

// Hub is an intermediate hub the tower issued a certificate to.
type Hub struct {
	ID                  string    `json:"id"`
	Hosts               []string  `json:"hosts,omitempty"`
	CertificateSerial   string    `json:"certificateSerial"`
	CertificateNotAfter time.Time `json:"certificateNotAfter"`
	CreatedAt           time.Time `json:"createdAt"`
	CreatedBy           string    `json:"createdBy,omitempty"`
	Revoked             bool      `json:"revoked,omitempty"`
	RevokedAt           time.Time `json:"revokedAt,omitzero"`
}

// HubCreated is the answer to HubCreate: the hub's certificate (OU hub,
// client and server authentication) and the tower CA that issued it and
// the sites' certificates.
type HubCreated struct {
	Hub
	Certificate string `json:"certificate"` // PEM
	CA          string `json:"ca"`          // PEM
}

// Revocations is what a hub asks of the tower with its own certificate
// (GET /v1/hubs/self/revocations): the sites and hubs whose certificates
// it must refuse, since it cannot see the tower's registry.
type Revocations struct {
	Sites []string  `json:"sites"`
	Hubs  []string  `json:"hubs"`
	At    time.Time `json:"at"` // when the tower made the list
}

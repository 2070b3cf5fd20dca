package store

import "time"

// Hub is an intermediate hub the tower issued a certificate to (POST
// /v1/hubs): it may forward other sites' records to the tower's embedded
// hub, and read the revocation list, while its current certificate is
// the one recorded here and it is not revoked.
type Hub struct {
	ID           string    `json:"id"`    // the certificate's CN (OU hub)
	Hosts        []string  `json:"hosts"` // the certificate's names, which sites dial
	CertSerial   string    `json:"certificateSerial"`
	CertNotAfter time.Time `json:"certificateNotAfter"`
	CreatedAt    time.Time `json:"createdAt"`
	CreatedBy    string    `json:"createdBy,omitempty"`
	Revoked      bool      `json:"revoked,omitempty"`
	RevokedAt    time.Time `json:"revokedAt,omitzero"`
}

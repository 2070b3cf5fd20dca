package agent

import (
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/skerry/skerry/services/atomicfile"
)

// IdentityVersion is the newest identity file format this build reads.
const IdentityVersion = 1

// IdentityFile is the name of the identity in the agent's home directory.
// Everything is in one file, so that one atomic rename moves the box from
// "not enrolled" to "enrolled" and a power cut cannot leave half of it.
const IdentityFile = "identity.json"

// Identity is what the box keeps once the tower has registered it.
type Identity struct {
	Version int `json:"version"`
	// Tower is the URL the box enrolled with.
	Tower  string `json:"tower"`
	SiteID string `json:"siteId"`
	// Software is set for a box without a TPM: Key is then the private key
	// itself (PKCS#8 DER) rather than a blob only the TPM can load.
	Software bool `json:"software,omitempty"`
	// AK is the attestation key's blob (attest.AK.Marshal); TPM only.
	AK []byte `json:"ak,omitempty"`
	// Key is the TLS key's blob (attest.Key.Marshal), or PKCS#8 DER.
	Key []byte `json:"key"`
	// Certificate is the site's client certificate (DER) and
	// CACertificate the tower CA's that issued it.
	Certificate   []byte    `json:"certificate"`
	CACertificate []byte    `json:"caCertificate"`
	EnrolledAt    time.Time `json:"enrolledAt"`
	// ReportInterval is the status interval the tower asked for, if any.
	ReportInterval time.Duration `json:"reportInterval,omitempty"`
	// Uplink is where the tower said the site's uplink sends its records
	// (host:port, MQTT over TLS), from the enrollment result and, updated,
	// from status report answers; empty while the tower said nothing.
	// skerry uplink takes it as its default parent.
	Uplink string `json:"uplink,omitempty"`
}

// LoadIdentity reads the identity in dir. It returns ErrNoIdentity when
// there is none and ErrIdentityCorrupt when the file cannot be used.
func LoadIdentity(dir string) (*Identity, error) {
	p := filepath.Join(dir, IdentityFile)
	data, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNoIdentity
	}
	if err != nil {
		return nil, fmt.Errorf("read identity: %w", err)
	}
	id, err := parseIdentity(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrIdentityCorrupt, p, err)
	}
	return id, nil
}

// parseIdentity decodes and checks an identity file.
func parseIdentity(data []byte) (*Identity, error) {
	var id Identity
	if err := json.Unmarshal(data, &id); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	if id.Version < 1 || id.Version > IdentityVersion {
		return nil, fmt.Errorf("version %d: this build reads versions 1 to %d", id.Version, IdentityVersion)
	}
	switch {
	case id.SiteID == "":
		return nil, errors.New("no site ID")
	case len(id.Key) == 0:
		return nil, errors.New("no key")
	case !id.Software && len(id.AK) == 0:
		return nil, errors.New("no attestation key")
	}
	// Parse the certificates now so that a damaged file is reported as
	// corrupt here, not as an odd TLS failure later.
	if _, err := id.Cert(); err != nil {
		return nil, err
	}
	if _, err := id.CACert(); err != nil {
		return nil, err
	}
	return &id, nil
}

// Cert parses the site's certificate.
func (id *Identity) Cert() (*x509.Certificate, error) {
	c, err := x509.ParseCertificate(id.Certificate)
	if err != nil {
		return nil, fmt.Errorf("parse site certificate: %w", err)
	}
	return c, nil
}

// CACert parses the tower CA's certificate.
func (id *Identity) CACert() (*x509.Certificate, error) {
	c, err := x509.ParseCertificate(id.CACertificate)
	if err != nil {
		return nil, fmt.Errorf("parse CA certificate: %w", err)
	}
	return c, nil
}

// Save writes the identity into dir atomically, readable by root only: the
// blobs are useless off this TPM, but a software key is the identity.
func (id *Identity) Save(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("save identity: %w", err)
	}
	data, err := json.MarshalIndent(id, "", "  ")
	if err != nil {
		return fmt.Errorf("save identity: %w", err)
	}
	return atomicfile.WriteFile(filepath.Join(dir, IdentityFile), append(data, '\n'), 0o600)
}

// setAside renames an identity the agent will not use to IdentityFile.old,
// replacing an earlier one, so that a person can still look at it after the
// box has enrolled again.
func setAside(dir string) error {
	p := filepath.Join(dir, IdentityFile)
	if err := os.Rename(p, p+".old"); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("set identity aside: %w", err)
	}
	return atomicfile.SyncDir(dir)
}

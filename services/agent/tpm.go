package agent

import (
	"crypto"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/google/go-attestation/attest"

	"github.com/skerry/skerry/services/internal/tpm"
)

// TPM is the box's TPM as the agent uses it. One mutex serializes all use:
// each go-attestation call is several TPM commands, and a TLS handshake
// signs with the site key from whichever goroutine dials the tower.
//
// go-attestation keeps the EK and SRK persistent and loads each AK and key
// as a transient object; every one the agent loads is Closed (flushed)
// when done with, which matters on a simulator or a TPM reached without the
// kernel's resource manager, where nothing else flushes them.
type TPM struct {
	mu   sync.Mutex
	t    *attest.TPM
	path string
}

// OpenTPM opens the TPM at path: a device such as /dev/tpmrm0, or
// "unix:PATH" for a simulator's command socket.
func OpenTPM(path string) (*TPM, error) {
	ch, err := tpm.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoTPM, err)
	}
	t, err := attest.OpenTPM(&attest.OpenConfig{CommandChannel: ch})
	if err != nil {
		ch.Close()
		return nil, fmt.Errorf("open TPM %s: %w", path, err)
	}
	return &TPM{t: t, path: path}, nil
}

// String names the TPM for log lines.
func (t *TPM) String() string { return t.path }

// Close closes the channel to the TPM.
func (t *TPM) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.t.Close()
}

// EK returns the TPM's RSA endorsement key, with the manufacturer's
// certificate when the TPM holds one.
func (t *TPM) EK() (attest.EK, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	eks, err := t.t.EKs()
	if err != nil {
		return attest.EK{}, fmt.Errorf("read EK: %w", err)
	}
	if len(eks) == 0 {
		return attest.EK{}, ErrNoEK
	}
	return eks[0], nil
}

// NewAK creates an attestation key under the storage root key.
func (t *TPM) NewAK() (*AK, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	ak, err := t.t.NewAK(nil)
	if err != nil {
		return nil, fmt.Errorf("create AK: %w", err)
	}
	return &AK{tpm: t, ak: ak}, nil
}

// LoadAK loads an AK saved with AK.Marshal.
func (t *TPM) LoadAK(blob []byte) (*AK, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	ak, err := t.t.LoadAK(blob)
	if err != nil {
		return nil, fmt.Errorf("load AK: %w", err)
	}
	return &AK{tpm: t, ak: ak}, nil
}

// LoadKey loads a key saved with Key.Marshal.
func (t *TPM) LoadKey(blob []byte) (*Key, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	k, err := t.t.LoadKey(blob)
	if err != nil {
		return nil, fmt.Errorf("load key: %w", err)
	}
	return newKey(t, k)
}

// AK is an attestation key loaded in the TPM.
type AK struct {
	tpm *TPM
	ak  *attest.AK
}

// Parameters returns what the tower needs to check the AK and to challenge
// it: its public area and the TPM's certification of its creation.
func (a *AK) Parameters() attest.AttestationParameters { return a.ak.AttestationParameters() }

// Marshal returns the AK as a blob that only this TPM can load.
func (a *AK) Marshal() ([]byte, error) { return a.ak.Marshal() }

// ActivateCredential decrypts the tower's challenge. Only the TPM holding
// both ek and this AK can, which is what proves the AK to the tower.
func (a *AK) ActivateCredential(ek attest.EK, in attest.EncryptedCredential) ([]byte, error) {
	a.tpm.mu.Lock()
	defer a.tpm.mu.Unlock()
	secret, err := a.ak.ActivateCredentialWithEK(a.tpm.t, in, ek)
	if err != nil {
		return nil, fmt.Errorf("activate credential: %w", err)
	}
	return secret, nil
}

// NewKey creates a P-256 signing key in the TPM, certified by this AK, for
// the site's TLS certificate.
func (a *AK) NewKey() (*Key, error) {
	a.tpm.mu.Lock()
	defer a.tpm.mu.Unlock()
	k, err := a.tpm.t.NewKey(a.ak, &attest.KeyConfig{Algorithm: attest.ECDSA, Size: 256})
	if err != nil {
		return nil, fmt.Errorf("create TLS key: %w", err)
	}
	return newKey(a.tpm, k)
}

// Close flushes the AK from the TPM.
func (a *AK) Close() error {
	a.tpm.mu.Lock()
	defer a.tpm.mu.Unlock()
	if err := a.ak.Close(a.tpm.t); err != nil {
		return fmt.Errorf("flush AK: %w", err)
	}
	return nil
}

// Key is a signing key loaded in the TPM. It is a crypto.Signer, so it
// serves as the private key of a tls.Certificate; its private part never
// leaves the TPM.
type Key struct {
	tpm    *TPM
	key    *attest.Key
	signer crypto.Signer
}

var _ crypto.Signer = (*Key)(nil)

func newKey(t *TPM, k *attest.Key) (*Key, error) {
	priv, err := k.Private(k.Public())
	if err != nil {
		k.Close()
		return nil, fmt.Errorf("use TPM key: %w", err)
	}
	s, ok := priv.(crypto.Signer)
	if !ok {
		k.Close()
		return nil, errors.New("use TPM key: not a signer")
	}
	return &Key{tpm: t, key: k, signer: s}, nil
}

// Public returns the public key.
func (k *Key) Public() crypto.PublicKey { return k.signer.Public() }

// Sign signs digest in the TPM.
func (k *Key) Sign(rand io.Reader, digest []byte, opts crypto.SignerOpts) ([]byte, error) {
	k.tpm.mu.Lock()
	defer k.tpm.mu.Unlock()
	return k.signer.Sign(rand, digest, opts)
}

// Certification returns the AK's certification of the key, which lets
// the tower check that the key was made in, and stays in, the TPM.
func (k *Key) Certification() attest.CertificationParameters { return k.key.CertificationParameters() }

// Marshal returns the key as a blob that only this TPM can load.
func (k *Key) Marshal() ([]byte, error) { return k.key.Marshal() }

// Close flushes the key from the TPM.
func (k *Key) Close() error {
	k.tpm.mu.Lock()
	defer k.tpm.mu.Unlock()
	if err := k.key.Close(); err != nil {
		return fmt.Errorf("flush key: %w", err)
	}
	return nil
}

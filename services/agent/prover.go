package agent

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/google/go-attestation/attest"

	"github.com/skerry/skerry/services/api/enrollapi"
)

// A prover is what the box proves its identity with during enrollment: its
// TPM, or a software key where that is allowed. It is made once per
// enrollment and used for every attempt, so a box waiting in the pending
// queue keeps one AK and one key however often it asks.
type prover interface {
	// describe fills the identity part of EnrollStart.
	describe(req *enrollapi.EnrollStart)
	// answer answers the tower's challenge in fin (all but the CSR).
	answer(ch *enrollapi.EnrollChallenge, fin *enrollapi.EnrollFinish) error
	// key is the key the site certificate will be for. The caller owns it.
	key() siteKey
	// keep fills id with what a later boot needs to load the key.
	keep(id *Identity) error
	// fingerprint names the identity in log lines: the EK's SHA-256, as
	// the tower shows it, or the software key's.
	fingerprint() string
	// Close releases what the enrollment loaded, except the key.
	Close() error
}

var (
	_ prover = (*tpmProver)(nil)
	_ prover = (*softProver)(nil)
)

// tpmProver enrolls with the TPM: the EK says which TPM, the AK is proven
// to live beside it by credential activation, and the TLS key is certified
// by the AK.
type tpmProver struct {
	ek    attest.EK
	ekDER []byte
	ak    *AK
	k     *Key
}

func newTPMProver(t *TPM) (_ *tpmProver, err error) {
	ek, err := t.EK()
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKIXPublicKey(ek.Public)
	if err != nil {
		return nil, fmt.Errorf("encode EK: %w", err)
	}
	ak, err := t.NewAK()
	if err != nil {
		return nil, err
	}
	k, err := ak.NewKey()
	if err != nil {
		ak.Close()
		return nil, err
	}
	return &tpmProver{ek: ek, ekDER: der, ak: ak, k: k}, nil
}

func (p *tpmProver) describe(req *enrollapi.EnrollStart) {
	req.EKPublic = p.ekDER
	if p.ek.Certificate != nil {
		req.EKCertificate = p.ek.Certificate.Raw
	}
	req.AK = enrollapi.AttestationParametersFrom(p.ak.Parameters())
}

func (p *tpmProver) answer(ch *enrollapi.EnrollChallenge, fin *enrollapi.EnrollFinish) error {
	if len(ch.Credential) == 0 || len(ch.Secret) == 0 {
		return errors.New("answer challenge: the tower sent no credential to activate")
	}
	secret, err := p.ak.ActivateCredential(p.ek, ch.EncryptedCredential())
	if err != nil {
		return err
	}
	fin.ActivatedSecret = secret
	fin.Key = enrollapi.CertificationParametersFrom(p.k.Certification())
	return nil
}

func (p *tpmProver) key() siteKey { return p.k }

func (p *tpmProver) keep(id *Identity) error {
	ak, err := p.ak.Marshal()
	if err != nil {
		return fmt.Errorf("save AK: %w", err)
	}
	k, err := p.k.Marshal()
	if err != nil {
		return fmt.Errorf("save key: %w", err)
	}
	id.AK, id.Key = ak, k
	return nil
}

func (p *tpmProver) fingerprint() string { return "EK sha256 " + hash(p.ekDER) }

func (p *tpmProver) Close() error { return p.ak.Close() }

// softProver enrolls a box without a TPM: nothing proves which box holds
// the key, so the tower accepts it only where a tenant allows it.
type softProver struct {
	k   softKey
	der []byte
}

func newSoftProver() (*softProver, error) {
	k, err := newSoftKey()
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKIXPublicKey(k.Public())
	if err != nil {
		return nil, fmt.Errorf("encode software key: %w", err)
	}
	return &softProver{k: k, der: der}, nil
}

func (p *softProver) describe(req *enrollapi.EnrollStart) { req.Software = true }

func (p *softProver) answer(*enrollapi.EnrollChallenge, *enrollapi.EnrollFinish) error { return nil }

func (p *softProver) key() siteKey { return p.k }

func (p *softProver) keep(id *Identity) error {
	der, err := p.k.marshal()
	id.Software, id.Key = true, der
	return err
}

func (p *softProver) fingerprint() string { return "software key sha256 " + hash(p.der) }

func (p *softProver) Close() error { return nil }

// hash is the hex SHA-256 of b, the form in which the tower shows EKs.
func hash(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

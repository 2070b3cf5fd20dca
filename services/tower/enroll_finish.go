package tower

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/subtle"
	"crypto/x509"
	"errors"
	"net/http"

	"github.com/google/go-attestation/attest"
	"github.com/google/go-tpm/legacy/tpm2"

	"github.com/skerry/skerry/services/api/enrollapi"
	"github.com/skerry/skerry/services/tower/store"
)

// enrollFinish proves the box, then applies the policy. The challenge is
// spent first, in its own transaction, so that a wrong answer burns it:
// nobody gets a second guess at the same credential.
func (s *Server) enrollFinish(w http.ResponseWriter, r *http.Request, _ principal) (err error) {
	defer func() {
		outcome := "error"
		if err != nil {
			if info, _, ok := classify(err); ok {
				outcome = info.code
			}
			s.metrics.enrollments.WithLabelValues(outcome).Inc()
		}
	}()
	in, err := decode[enrollapi.EnrollFinish](w, r)
	if err != nil {
		return err
	}
	ch, err := s.spendChallenge(r, in.ChallengeID)
	if err != nil {
		return err
	}
	pub, err := s.prove(ch, in)
	if err != nil {
		return err
	}
	var res enrollapi.EnrollResult
	err = s.store.Update(r.Context(), func(tx store.Tx) (err error) {
		res, err = s.decide(tx, ch, pub)
		return err
	})
	if err != nil {
		return err
	}
	if res.Status == enrollapi.StatusRegistered {
		res.UplinkAddress = s.uplinkAddress(r)
	}
	s.metrics.enrollments.WithLabelValues(res.Status).Inc()
	level := s.log.Info
	if res.Status == enrollapi.StatusRejected {
		level = s.log.Warn // a refusal too, by an operator's decision
	}
	level("enrollment "+res.Status, "site", res.SiteID, "ek_hash", ch.EKHash, "serial", ch.Serial, "hostname", ch.Hostname, "software", ch.Software, "remote", r.RemoteAddr, "message", res.Message)
	writeJSON(w, http.StatusOK, res)
	return nil
}

// spendChallenge marks the challenge used, refusing one that is unknown,
// expired or used.
func (s *Server) spendChallenge(r *http.Request, id string) (store.Challenge, error) {
	var ch store.Challenge
	err := s.store.Update(r.Context(), func(tx store.Tx) (err error) {
		ch, err = tx.Challenge(id)
		if errors.Is(err, store.ErrNotFound) {
			return refuse(ErrChallengeUnknown, "challenge %q was not issued by this tower or has expired and been forgotten; start the enrollment again", id)
		}
		if err != nil {
			return err
		}
		if ch.Used {
			return refuse(ErrChallengeUsed, "challenge %s was already answered once (a replay?); start the enrollment again", id)
		}
		if !s.now().Before(ch.ExpiresAt) {
			return refuse(ErrChallengeExpired, "challenge %s expired at %s; start the enrollment again and finish within %v", id, ch.ExpiresAt.Format("15:04:05Z07:00"), s.challengeTTL)
		}
		ch.Used = true
		return tx.PutChallenge(ch)
	})
	return ch, err
}

// prove checks the box's answers and returns the public key to certify.
// With a TPM: the activated secret shows the AK lives beside the EK; the
// key certification shows the TLS key lives beside the AK; the CSR must
// carry that key. Without one, only the CSR's own signature is checked.
func (s *Server) prove(ch store.Challenge, in enrollapi.EnrollFinish) (crypto.PublicKey, error) {
	csr, err := x509.ParseCertificateRequest(in.CSR)
	if err != nil {
		return nil, refuse(ErrBadRequest, "csr is not a DER PKCS#10 request: %v", err)
	}
	if err := csr.CheckSignature(); err != nil {
		return nil, refuse(ErrKeyNotCertified, "csr signature does not verify: %v", err)
	}
	if err := checkKeyStrength(csr.PublicKey); err != nil {
		return nil, err
	}
	if ch.Software {
		return csr.PublicKey, nil
	}
	if subtle.ConstantTimeCompare(in.ActivatedSecret, ch.Secret) != 1 {
		return nil, refuse(ErrActivation, "activated secret for challenge %s is wrong: the AK is not in the TPM that holds EK %s", ch.ID, ch.EKHash)
	}
	akPub, err := attest.ParseAKPublic(ch.AKPublic)
	if err != nil {
		return nil, refuse(ErrAKInvalid, "AK of challenge %s: %v", ch.ID, err)
	}
	key := in.Key.Attest()
	if err := key.Verify(attest.VerifyOpts{Public: akPub.Public, Hash: akPub.Hash}); err != nil {
		return nil, refuse(ErrKeyNotCertified, "key certification does not verify against the AK of EK %s: %v", ch.EKHash, err)
	}
	tpub, err := tpm2.DecodePublic(key.Public)
	if err != nil {
		return nil, refuse(ErrKeyNotCertified, "certified key: %v", err)
	}
	certified, err := tpub.Key()
	if err != nil {
		return nil, refuse(ErrKeyNotCertified, "certified key: %v", err)
	}
	if !samePublicKey(certified, csr.PublicKey) {
		return nil, refuse(ErrKeyNotCertified, "csr is for another key than the one the AK certified")
	}
	return csr.PublicKey, nil
}

// samePublicKey compares keys by their PKIX encoding, which works across
// the key types the TPM and x509 packages hand back.
func samePublicKey(a, b crypto.PublicKey) bool {
	da, err1 := x509.MarshalPKIXPublicKey(a)
	db, err2 := x509.MarshalPKIXPublicKey(b)
	return err1 == nil && err2 == nil && bytes.Equal(da, db)
}

// checkKeyStrength accepts ECDSA P-256/P-384 and RSA of 2048 bits or more.
func checkKeyStrength(pub crypto.PublicKey) error {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k.Curve == elliptic.P256() || k.Curve == elliptic.P384() {
			return nil
		}
	case *rsa.PublicKey:
		if k.N.BitLen() >= 2048 {
			return nil
		}
	}
	return refuse(ErrBadRequest, "csr key %T is too weak or unsupported: use ECDSA P-256 or RSA 2048", pub)
}

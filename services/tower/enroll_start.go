package tower

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"net/http"

	"github.com/google/go-attestation/attest"

	"github.com/skerry/skerry/services/api/enrollapi"
	"github.com/skerry/skerry/services/tower/store"
)

// enrollStart checks what it can before the box proves anything (the AK's
// creation parameters, the token, whether the EK is taken) and issues the
// credential-activation challenge. Every check that decides is repeated at
// finish, in the same transaction that registers.
func (s *Server) enrollStart(w http.ResponseWriter, r *http.Request, _ principal) error {
	in, err := decode[enrollapi.EnrollStart](w, r)
	if err != nil {
		return err
	}
	if err := checkStartFields(in); err != nil {
		return err
	}
	now := s.now()
	ch := store.Challenge{
		ID: newID("ch-"), Software: in.Software, Serial: in.Serial, Hostname: in.Hostname,
		Agent: in.AgentVersion, Image: in.ImageVersion, ExpiresAt: now.Add(s.challengeTTL),
	}
	if in.Token != "" {
		ch.TokenHash, _ = hashSecret(in.Token)
	}
	var out enrollapi.EnrollChallenge
	if in.Software {
		if len(in.EKPublic) > 0 || len(in.AK.Public) > 0 {
			return refuse(ErrBadRequest, "a software enrollment carries no EK or AK; set software only on boxes without a TPM")
		}
		if in.Token == "" && in.Serial == "" {
			return refuse(ErrSoftwareNotAllowed, "a box without a TPM enrolls only with an enrollment token or a claimed serial, in a tenant that allows software identity")
		}
	} else {
		ekPub, err := parseEK(in)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(in.EKPublic)
		ch.EKHash = hex.EncodeToString(sum[:])
		ch.HasEKCert = len(in.EKCertificate) > 0
		if ch.HasEKCert {
			if err := s.ekRoots.Verify(in.EKCertificate); err != nil {
				s.log.Info("EK not certified by a trusted TPM maker: a software identity", "ek_hash", ch.EKHash, "why", err)
			} else {
				ch.EKTrusted = true
			}
		}
		ap := attest.ActivationParameters{EK: ekPub, AK: in.AK.Attest()}
		secret, cred, err := ap.Generate()
		if err != nil {
			return refuse(ErrAKInvalid, "AK parameters for EK %s do not describe a restricted key created in a TPM: %v", ch.EKHash, err)
		}
		ch.Secret, ch.AKPublic = secret, in.AK.Public
		out.Credential, out.Secret = cred.Credential, cred.Secret
	}
	err = s.store.Update(r.Context(), func(tx store.Tx) error {
		if err := s.precheck(tx, ch); err != nil {
			return err
		}
		return tx.PutChallenge(ch)
	})
	if err != nil {
		return err
	}
	out.ChallengeID, out.ExpiresAt = ch.ID, ch.ExpiresAt
	s.log.Debug("enrollment challenge issued", "challenge", ch.ID, "ek_hash", ch.EKHash, "software", ch.Software, "remote", r.RemoteAddr)
	writeJSON(w, http.StatusOK, out)
	return nil
}

// precheck refuses early what finish would refuse: a taken EK, a token
// that cannot be used, a tenant conflict. It saves the box a round of TPM
// work; finish decides again in its own transaction.
//
// A taken or revoked EK is left to finish: the EK public key is no
// secret, so only a box that proved it holds the EK hears which site has
// it.
func (s *Server) precheck(tx store.Tx, ch store.Challenge) error {
	_, err := s.match(tx, ch)
	if errors.Is(err, ErrEKRegistered) || errors.Is(err, ErrSiteRevoked) {
		return nil
	}
	return err
}

// checkStartFields bounds what the box says about itself: it is stored
// and shown to operators, so it must not be arbitrarily large.
func checkStartFields(in enrollapi.EnrollStart) error {
	return checkTexts(textField{"serial", in.Serial, 128}, textField{"hostname", in.Hostname, 253},
		textField{"agentVersion", in.AgentVersion, 128}, textField{"imageVersion", in.ImageVersion, 128}, textField{"token", in.Token, 256})
}

// parseEK decodes the EK and, when present, checks that the EK certificate
// is for the same key. Whether its chain leads to a trusted TPM maker is
// decided by the caller (ektrust).
func parseEK(in enrollapi.EnrollStart) (any, error) {
	pub, err := x509.ParsePKIXPublicKey(in.EKPublic)
	if err != nil {
		return nil, refuse(ErrBadRequest, "ekPublic is not a PKIX DER public key: %v", err)
	}
	switch pub.(type) {
	case *rsa.PublicKey, *ecdsa.PublicKey:
	default:
		return nil, refuse(ErrBadRequest, "ekPublic is a %T; a TPM EK is RSA or ECDSA", pub)
	}
	if len(in.EKCertificate) > 0 {
		cert, err := attest.ParseEKCertificate(in.EKCertificate)
		if err != nil {
			return nil, refuse(ErrBadRequest, "ekCertificate: %v", err)
		}
		if k, ok := cert.PublicKey.(interface{ Equal(crypto.PublicKey) bool }); !ok || !k.Equal(pub) {
			return nil, refuse(ErrBadRequest, "ekCertificate is for another key than ekPublic")
		}
	}
	return pub, nil
}

package enrollapi

import "github.com/google/go-attestation/attest"

// AttestationParametersFrom copies go-attestation's AK parameters.
func AttestationParametersFrom(p attest.AttestationParameters) AttestationParameters {
	return AttestationParameters{
		Public:                  p.Public,
		CreateData:              p.CreateData,
		CreateAttestation:       p.CreateAttestation,
		CreateSignature:         p.CreateSignature,
		UseTCSDActivationFormat: p.UseTCSDActivationFormat,
	}
}

// Attest returns the parameters as go-attestation's type.
func (p AttestationParameters) Attest() attest.AttestationParameters {
	return attest.AttestationParameters{
		Public:                  p.Public,
		CreateData:              p.CreateData,
		CreateAttestation:       p.CreateAttestation,
		CreateSignature:         p.CreateSignature,
		UseTCSDActivationFormat: p.UseTCSDActivationFormat,
	}
}

// CertificationParametersFrom copies go-attestation's key certification.
func CertificationParametersFrom(p attest.CertificationParameters) CertificationParameters {
	return CertificationParameters{
		Public:            p.Public,
		CreateData:        p.CreateData,
		CreateAttestation: p.CreateAttestation,
		CreateSignature:   p.CreateSignature,
	}
}

// Attest returns the certification as go-attestation's type.
func (p CertificationParameters) Attest() attest.CertificationParameters {
	return attest.CertificationParameters{
		Public:            p.Public,
		CreateData:        p.CreateData,
		CreateAttestation: p.CreateAttestation,
		CreateSignature:   p.CreateSignature,
	}
}

// EncryptedCredential returns the challenge's credential as go-attestation's
// type, ready for AK.ActivateCredential.
func (c EnrollChallenge) EncryptedCredential() attest.EncryptedCredential {
	return attest.EncryptedCredential{Credential: c.Credential, Secret: c.Secret}
}

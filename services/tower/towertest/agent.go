package towertest

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/google/go-attestation/attest"

	"github.com/skerry/skerry/services/api/enrollapi"
)

// Agent is the site side of enrollment, reduced to the protocol: it holds
// one TPM connection, its EK and a fresh AK, and exposes each step so that
// tests can tamper between them. services/agent is the real thing.
type Agent struct {
	URL    string
	CAPool *x509.CertPool
	TPM    *attest.TPM
	EK     attest.EK
	AK     *attest.AK
	Key    *attest.Key // the last certified key, after Answer
}

// NewAgent opens tpm and creates an AK. Close it when done.
func NewAgent(url string, caPEM []byte, tpm *attest.TPM) (*Agent, error) {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	eks, err := tpm.EKs()
	if err != nil {
		return nil, fmt.Errorf("read EK: %w", err)
	}
	if len(eks) == 0 {
		return nil, fmt.Errorf("read EK: the TPM has none")
	}
	ak, err := tpm.NewAK(nil)
	if err != nil {
		return nil, fmt.Errorf("create AK: %w", err)
	}
	return &Agent{URL: url, CAPool: pool, TPM: tpm, EK: eks[0], AK: ak}, nil
}

// Close releases the keys and the TPM.
func (a *Agent) Close() error {
	if a.Key != nil {
		a.Key.Close()
	}
	a.AK.Close(a.TPM)
	return a.TPM.Close()
}

// EKHash is the EK's identity at the tower: SHA-256 of its PKIX DER, hex.
func (a *Agent) EKHash() string {
	der, _ := x509.MarshalPKIXPublicKey(a.EK.Public)
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

// StartRequest is the EnrollStart the agent sends.
func (a *Agent) StartRequest(token string) enrollapi.EnrollStart {
	der, _ := x509.MarshalPKIXPublicKey(a.EK.Public)
	in := enrollapi.EnrollStart{
		EKPublic: der, AK: enrollapi.AttestationParametersFrom(a.AK.AttestationParameters()),
		Hostname: "box", AgentVersion: "test", ImageVersion: "test", Token: token,
	}
	if a.EK.Certificate != nil {
		in.EKCertificate = a.EK.Certificate.Raw
	}
	return in
}

// Answer activates the challenge's credential, creates a key certified by
// the AK and a CSR signed by it.
func (a *Agent) Answer(ch enrollapi.EnrollChallenge) (enrollapi.EnrollFinish, error) {
	secret, err := a.AK.ActivateCredential(a.TPM, ch.EncryptedCredential())
	if err != nil {
		return enrollapi.EnrollFinish{}, fmt.Errorf("activate credential: %w", err)
	}
	fin, err := a.CertifiedKey()
	fin.ChallengeID, fin.ActivatedSecret = ch.ChallengeID, secret
	return fin, err
}

// CertifiedKey creates a key certified by the AK and its CSR.
func (a *Agent) CertifiedKey() (enrollapi.EnrollFinish, error) {
	if a.Key != nil {
		a.Key.Close()
	}
	key, err := a.TPM.NewKey(a.AK, &attest.KeyConfig{Algorithm: attest.ECDSA, Size: 256})
	if err != nil {
		return enrollapi.EnrollFinish{}, fmt.Errorf("create key: %w", err)
	}
	a.Key = key
	signer, err := a.Signer()
	if err != nil {
		return enrollapi.EnrollFinish{}, err
	}
	csr, err := x509.CreateCertificateRequest(nil, &x509.CertificateRequest{}, signer)
	if err != nil {
		return enrollapi.EnrollFinish{}, fmt.Errorf("create csr: %w", err)
	}
	return enrollapi.EnrollFinish{Key: enrollapi.CertificationParametersFrom(key.CertificationParameters()), CSR: csr}, nil
}

// Signer returns the TPM key as a crypto.Signer.
func (a *Agent) Signer() (crypto.Signer, error) {
	priv, err := a.Key.Private(a.Key.Public())
	if err != nil {
		return nil, fmt.Errorf("key signer: %w", err)
	}
	return priv.(crypto.Signer), nil
}

// Enroll runs start, answer and finish.
func (a *Agent) Enroll(ctx context.Context, token string) (enrollapi.EnrollResult, error) {
	return a.EnrollWith(ctx, a.StartRequest(token))
}

// EnrollWith runs start (with in, which may say a serial, say), answer
// and finish.
func (a *Agent) EnrollWith(ctx context.Context, in enrollapi.EnrollStart) (enrollapi.EnrollResult, error) {
	ch, err := a.Start(ctx, in)
	if err != nil {
		return enrollapi.EnrollResult{}, err
	}
	fin, err := a.Answer(ch)
	if err != nil {
		return enrollapi.EnrollResult{}, err
	}
	return a.Finish(ctx, fin)
}

// Start posts an EnrollStart.
func (a *Agent) Start(ctx context.Context, in enrollapi.EnrollStart) (enrollapi.EnrollChallenge, error) {
	var out enrollapi.EnrollChallenge
	_, err := Post(ctx, a.client(nil), a.URL+enrollapi.PathEnrollStart, in, &out)
	return out, err
}

// Finish posts an EnrollFinish.
func (a *Agent) Finish(ctx context.Context, in enrollapi.EnrollFinish) (enrollapi.EnrollResult, error) {
	var out enrollapi.EnrollResult
	_, err := Post(ctx, a.client(nil), a.URL+enrollapi.PathEnrollFinish, in, &out)
	return out, err
}

// TLSCertificate pairs the certificate of a registration with the TPM key.
func (a *Agent) TLSCertificate(res enrollapi.EnrollResult) (tls.Certificate, error) {
	signer, err := a.Signer()
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{res.Certificate}, PrivateKey: signer}, nil
}

// Report posts a status report with cert over mutual TLS and returns the
// response header.
func (a *Agent) Report(ctx context.Context, cert tls.Certificate, r enrollapi.StatusReport) (http.Header, error) {
	return Post(ctx, a.client(&cert), a.URL+enrollapi.PathStatus, r, nil)
}

// Renew asks for a new certificate with csr over mutual TLS with cert.
func (a *Agent) Renew(ctx context.Context, cert tls.Certificate, csr []byte) (enrollapi.EnrollResult, error) {
	var out enrollapi.EnrollResult
	_, err := Post(ctx, a.client(&cert), a.URL+enrollapi.PathRenew, enrollapi.Renew{CSR: csr}, &out)
	return out, err
}

func (a *Agent) client(cert *tls.Certificate) *http.Client {
	conf := &tls.Config{RootCAs: a.CAPool, MinVersion: tls.VersionTLS12}
	if cert != nil {
		conf.Certificates = []tls.Certificate{*cert}
	}
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: conf, DisableKeepAlives: true}}
}

// Post sends in as JSON and decodes a 2xx answer into out; a refusal is
// returned as *enrollapi.Error.
func Post(ctx context.Context, c *http.Client, url string, in, out any) (http.Header, error) {
	body, err := json.Marshal(in)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, "POST", url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		e := &enrollapi.Error{}
		if json.Unmarshal(data, e) != nil || e.Code == "" {
			return resp.Header, fmt.Errorf("%s: %s", resp.Status, data)
		}
		return resp.Header, e
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return resp.Header, fmt.Errorf("decode answer: %w", err)
		}
	}
	return resp.Header, nil
}

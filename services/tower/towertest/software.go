package towertest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"testing"
	"time"

	"github.com/skerry/skerry/services/api/enrollapi"
)

// SoftwareAgent enrolls a box without a TPM: its key is in memory.
type SoftwareAgent struct {
	URL    string
	CAPool *x509.CertPool
	Key    *ecdsa.PrivateKey
	Serial string
}

// NewSoftwareAgent returns an agent with a fresh software key.
func NewSoftwareAgent(t testing.TB, url string, caPEM []byte) *SoftwareAgent {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	return &SoftwareAgent{URL: url, CAPool: pool, Key: key}
}

// Enroll runs start and finish.
func (a *SoftwareAgent) Enroll(ctx context.Context, token string) (enrollapi.EnrollResult, error) {
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: a.CAPool}, DisableKeepAlives: true}}
	var ch enrollapi.EnrollChallenge
	in := enrollapi.EnrollStart{Software: true, Token: token, Serial: a.Serial, Hostname: "softbox"}
	if _, err := Post(ctx, hc, a.URL+enrollapi.PathEnrollStart, in, &ch); err != nil {
		return enrollapi.EnrollResult{}, err
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, a.Key)
	if err != nil {
		return enrollapi.EnrollResult{}, err
	}
	var res enrollapi.EnrollResult
	_, err = Post(ctx, hc, a.URL+enrollapi.PathEnrollFinish, enrollapi.EnrollFinish{ChallengeID: ch.ChallengeID, CSR: csr}, &res)
	return res, err
}

// HTTPClient returns a client that trusts the tower CA and sends no
// client certificate.
func (a *SoftwareAgent) HTTPClient() *http.Client {
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: a.CAPool}, DisableKeepAlives: true}}
}

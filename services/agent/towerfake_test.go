package agent

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/google/go-attestation/attest"
	"github.com/google/go-tpm/legacy/tpm2"

	"github.com/skerry/skerry/services/api/enrollapi"
	"github.com/skerry/skerry/services/siteconfig"
)

// testTower is an in-process stand-in for the tower's enrollment and status
// endpoints, so that the agent's own behaviour (retries, pending,
// rejection, a lost or foreign identity) is tested without the tower's
// store and policy. It checks every proof as the tower does, with
// go-attestation's server side; the real tower is tested with the agent in
// integration_test.go.
type testTower struct {
	srv   *httptest.Server
	ca    *x509.Certificate
	caKey *ecdsa.PrivateKey

	mu sync.Mutex
	// decide returns the status for an identity (the EK's or software
	// key's hash) and token; nil registers everyone.
	decide     func(id, token string) string
	challenges map[string]*challenge
	starts     int
	finishes   int            // finished enrollments, whatever the status
	registered map[string]int // site ID -> times registered
	reports    map[string]int // site ID -> status reports
	software   map[string]bool
}

type challenge struct {
	secret   []byte
	id       string
	ak       attest.AttestationParameters
	token    string
	software bool
}

func newTestTower(t *testing.T) *testTower {
	t.Helper()
	tw := &testTower{challenges: map[string]*challenge{}, registered: map[string]int{}, reports: map[string]int{}, software: map[string]bool{}}
	var err error
	tw.caKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test tower CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, tw.caKey.Public(), tw.caKey)
	if err != nil {
		t.Fatal(err)
	}
	tw.ca, _ = x509.ParseCertificate(der)
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+enrollapi.PathEnrollStart, tw.start)
	mux.HandleFunc("POST "+enrollapi.PathEnrollFinish, tw.finish)
	mux.HandleFunc("POST "+enrollapi.PathStatus, tw.status)
	tw.srv = httptest.NewUnstartedServer(mux)
	// An agent stopped mid-handshake is expected; keep it out of the output.
	tw.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	pool := x509.NewCertPool()
	pool.AddCert(tw.ca)
	tw.srv.TLS = &tls.Config{ClientCAs: pool, ClientAuth: tls.VerifyClientCertIfGiven}
	tw.srv.StartTLS()
	t.Cleanup(tw.srv.Close)
	return tw
}

// config is the site config's tower section for this tower.
func (tw *testTower) config() siteconfig.Tower {
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tw.srv.Certificate().Raw})
	return siteconfig.Tower{URL: tw.srv.URL, CA: string(ca)}
}

// isSoftware reports whether the tower registered site as software.
func (tw *testTower) isSoftware(site string) bool {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	return tw.software[site]
}

func (tw *testTower) setDecide(fn func(id, token string) string) {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	tw.decide = fn
}

// counts returns finished enrollments, registrations and reports.
func (tw *testTower) counts() (finishes, registrations, reports int) {
	tw.mu.Lock()
	defer tw.mu.Unlock()
	for _, n := range tw.registered {
		registrations += n
	}
	for _, n := range tw.reports {
		reports += n
	}
	return tw.finishes, registrations, reports
}

func refuse(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(&enrollapi.Error{Code: code, Message: msg})
}

func reply(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}

func hexHash(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func (tw *testTower) start(w http.ResponseWriter, r *http.Request) {
	var req enrollapi.EnrollStart
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		refuse(w, 400, enrollapi.CodeBadRequest, err.Error())
		return
	}
	c := &challenge{token: req.Token, software: req.Software}
	var resp enrollapi.EnrollChallenge
	if !req.Software {
		ek, err := x509.ParsePKIXPublicKey(req.EKPublic)
		if err != nil {
			refuse(w, 400, enrollapi.CodeBadRequest, "ekPublic: "+err.Error())
			return
		}
		c.ak, c.id = req.AK.Attest(), hexHash(req.EKPublic)
		ap := attest.ActivationParameters{EK: ek, AK: c.ak}
		secret, ec, err := ap.Generate()
		if err != nil {
			refuse(w, 400, enrollapi.CodeAKInvalid, err.Error())
			return
		}
		c.secret, resp.Credential, resp.Secret = secret, ec.Credential, ec.Secret
	}
	tw.mu.Lock()
	tw.starts++
	resp.ChallengeID = fmt.Sprintf("c%d", tw.starts)
	tw.challenges[resp.ChallengeID] = c
	tw.mu.Unlock()
	resp.ExpiresAt = time.Now().Add(time.Minute)
	reply(w, &resp)
}

func (tw *testTower) finish(w http.ResponseWriter, r *http.Request) {
	var req enrollapi.EnrollFinish
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		refuse(w, 400, enrollapi.CodeBadRequest, err.Error())
		return
	}
	tw.mu.Lock()
	c := tw.challenges[req.ChallengeID]
	delete(tw.challenges, req.ChallengeID)
	tw.mu.Unlock()
	if c == nil {
		refuse(w, 400, enrollapi.CodeChallengeUnknown, "no such challenge")
		return
	}
	csr, err := x509.ParseCertificateRequest(req.CSR)
	if err == nil {
		err = csr.CheckSignature()
	}
	if err != nil {
		refuse(w, 400, enrollapi.CodeBadRequest, "csr: "+err.Error())
		return
	}
	if c.software {
		c.id = hexHash(csr.RawSubjectPublicKeyInfo)
	} else {
		if !bytes.Equal(req.ActivatedSecret, c.secret) {
			refuse(w, 403, enrollapi.CodeActivation, "wrong secret")
			return
		}
		akPub, err := attest.ParseAKPublic(c.ak.Public)
		if err != nil {
			refuse(w, 400, enrollapi.CodeAKInvalid, err.Error())
			return
		}
		cp := req.Key.Attest()
		if err := cp.Verify(attest.VerifyOpts{Public: akPub.Public, Hash: akPub.Hash}); err != nil {
			refuse(w, 403, enrollapi.CodeKeyNotCertified, err.Error())
			return
		}
		pub, err := tpm2.DecodePublic(cp.Public)
		if err != nil {
			refuse(w, 400, enrollapi.CodeKeyNotCertified, err.Error())
			return
		}
		key, err := pub.Key()
		if err != nil || samePublic(key, csr.PublicKey) != nil {
			refuse(w, 403, enrollapi.CodeKeyNotCertified, "the CSR is not for the certified key")
			return
		}
	}
	tw.mu.Lock()
	defer tw.mu.Unlock()
	tw.finishes++
	status := enrollapi.StatusRegistered
	if tw.decide != nil {
		status = tw.decide(c.id, c.token)
	}
	if status != enrollapi.StatusRegistered {
		reply(w, &enrollapi.EnrollResult{Status: status, Message: "test tower says " + status, RetryAfterSeconds: 3600})
		return
	}
	site := "s-" + c.id[:8]
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(int64(tw.finishes + 1)), Subject: pkix.Name{CommonName: site},
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tw.ca, csr.PublicKey, tw.caKey)
	if err != nil {
		refuse(w, 500, enrollapi.CodeInternal, err.Error())
		return
	}
	tw.registered[site]++
	tw.software[site] = c.software
	reply(w, &enrollapi.EnrollResult{Status: status, SiteID: site, Certificate: der, CACertificate: tw.ca.Raw, Software: c.software, ReportIntervalSeconds: 3600})
}

func (tw *testTower) status(w http.ResponseWriter, r *http.Request) {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		refuse(w, 401, enrollapi.CodeUnauthenticated, "no client certificate")
		return
	}
	var rep enrollapi.StatusReport
	if err := json.NewDecoder(r.Body).Decode(&rep); err != nil || rep.BootID == "" {
		refuse(w, 400, enrollapi.CodeBadRequest, fmt.Sprintf("bad report %+v: %v", rep, err))
		return
	}
	tw.mu.Lock()
	tw.reports[r.TLS.PeerCertificates[0].Subject.CommonName]++
	tw.mu.Unlock()
	w.Header().Set(enrollapi.HeaderReportInterval, "3600")
	w.WriteHeader(http.StatusNoContent)
}

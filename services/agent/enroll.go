package agent

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"time"

	"github.com/skerry/skerry/services/api/enrollapi"
)

// enroll runs enrollments until the tower registers the box or ctx ends,
// and keeps the identity it gets. The returned key is the caller's to
// close.
func (a *Agent) enroll(ctx context.Context, t *TPM, roots *x509.CertPool) (*Identity, siteKey, error) {
	var p prover
	var err error
	if t != nil {
		p, err = newTPMProver(t)
	} else {
		p, err = newSoftProver()
	}
	if err != nil {
		return nil, nil, fmt.Errorf("prepare enrollment: %w", err)
	}
	defer p.Close()
	key := p.key()
	kept := false
	defer func() {
		if !kept {
			key.Close()
		}
	}()
	// The tower takes only the public key from the CSR; the subject is for
	// a person reading it.
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: a.hostname}}, key)
	if err != nil {
		return nil, nil, fmt.Errorf("create CSR: %w", err)
	}
	c := newTowerClient(a.tower.URL, roots, nil)
	defer c.close()
	fp := p.fingerprint()
	a.log.Info(fmt.Sprintf("enrolling with %s (%s)", a.tower.URL, short(fp)), "identity", fp, "hostname", a.hostname, "token", a.tower.EnrollmentToken != "")

	// Each attempt is a new start and finish: a challenge is good for one
	// finish only, so a pending box needs a fresh one every time it asks.
	var n narrator
	for failures := 0; ; {
		res, err := a.attempt(ctx, c, p, csr)
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		var wait time.Duration
		switch {
		case err != nil:
			wait = a.waitAfter(err, failures)
			failures++
			n.say(a.log, "error", fmt.Sprintf("enrolling with %s failed: %v; trying again in %v", a.tower.URL, err, wait))
		case res.Status == enrollapi.StatusRegistered:
			id, err := a.keep(p, res)
			if err != nil {
				return nil, nil, err
			}
			kept = true
			a.log.Info(fmt.Sprintf("registered as site %s with %s", id.SiteID, a.tower.URL), "identity", fp, "software", id.Software)
			return id, key, nil
		case res.Status == enrollapi.StatusPending:
			// Pending is an answer, not a failure: no backing off, and the
			// tower's pace unless the agent was told otherwise.
			failures = 0
			wait = a.retry
			if wait == 0 {
				wait = time.Duration(res.RetryAfterSeconds) * time.Second
			}
			if wait <= 0 {
				wait = DefaultRetry
			}
			n.say(a.log, "pending", fmt.Sprintf("enrolling with %s: pending operator approval (%s)%s; asking again every %v", a.tower.URL, short(fp), detail(res.Message), wait))
		case res.Status == enrollapi.StatusRejected:
			// An operator said no. The box cannot do anything about that,
			// but an operator may change their mind, so it asks again,
			// slowly, rather than stopping until the next boot.
			wait = a.slowRetry
			n.say(a.log, "rejected", fmt.Sprintf("enrolling with %s: REJECTED by the tower (%s)%s; asking again every %v in case an operator approves it", a.tower.URL, short(fp), detail(res.Message), wait))
		default:
			// A newer tower with a status this build does not know: treat it
			// as a failure, not as success, and keep asking.
			wait = a.waitAfter(nil, failures)
			failures++
			n.say(a.log, "error", fmt.Sprintf("enrolling with %s: the tower answered status %q, which this agent does not know; trying again in %v", a.tower.URL, res.Status, wait))
		}
		if err := sleep(ctx, wait); err != nil {
			return nil, nil, err
		}
	}
}

// attempt is one enrollment: start, answer the challenge, finish.
func (a *Agent) attempt(ctx context.Context, c *towerClient, p prover, csr []byte) (*enrollapi.EnrollResult, error) {
	start := enrollapi.EnrollStart{
		Serial:       a.serial,
		Hostname:     a.hostname,
		AgentVersion: a.agentVersion,
		ImageVersion: a.imageVersion,
		Token:        a.tower.EnrollmentToken,
	}
	p.describe(&start)
	var ch enrollapi.EnrollChallenge
	if _, err := c.post(ctx, enrollapi.PathEnrollStart, &start, &ch); err != nil {
		return nil, err
	}
	fin := enrollapi.EnrollFinish{ChallengeID: ch.ChallengeID, CSR: csr}
	if err := p.answer(&ch, &fin); err != nil {
		return nil, err
	}
	var res enrollapi.EnrollResult
	if _, err := c.post(ctx, enrollapi.PathEnrollFinish, &fin, &res); err != nil {
		return nil, err
	}
	return &res, nil
}

// keep checks what the tower issued and saves it as the box's identity.
func (a *Agent) keep(p prover, res *enrollapi.EnrollResult) (*Identity, error) {
	id := &Identity{
		Version:        IdentityVersion,
		Tower:          a.tower.URL,
		SiteID:         res.SiteID,
		Certificate:    res.Certificate,
		CACertificate:  res.CACertificate,
		EnrolledAt:     time.Now().UTC(),
		ReportInterval: time.Duration(res.ReportIntervalSeconds) * time.Second,
		Uplink:         validUplink(res.UplinkAddress),
	}
	if err := p.keep(id); err != nil {
		return nil, err
	}
	if err := id.check(p.key()); err != nil {
		return nil, fmt.Errorf("check the tower's certificate: %w", err)
	}
	// Saved before the first report: an identity the tower has issued but
	// the box has not kept would make the next boot enroll again, and the
	// tower would refuse it as ek_registered.
	if err := id.Save(a.home); err != nil {
		return nil, err
	}
	return id, nil
}

// check makes sure the identity hangs together: a site ID, a certificate
// for key, issued by the CA that came with it.
func (id *Identity) check(key siteKey) error {
	if id.SiteID == "" {
		return errors.New("no site ID")
	}
	cert, err := id.Cert()
	if err != nil {
		return err
	}
	ca, err := id.CACert()
	if err != nil {
		return err
	}
	if err := samePublic(key.Public(), cert.PublicKey); err != nil {
		return err
	}
	if err := cert.CheckSignatureFrom(ca); err != nil {
		return fmt.Errorf("site certificate not issued by the CA sent with it: %w", err)
	}
	return nil
}

// needsPerson lists the refusals only a person can change; the agent asks
// again slowly rather than hammering the tower.
var needsPerson = map[string]bool{
	enrollapi.CodeTokenUnknown:    true,
	enrollapi.CodeTokenExpired:    true,
	enrollapi.CodeTokenRevoked:    true,
	enrollapi.CodeTokenUsedUp:     true,
	enrollapi.CodeEKRegistered:    true,
	enrollapi.CodeSoftwareNotOK:   true,
	enrollapi.CodeSiteRevoked:     true,
	enrollapi.CodeTenantConflict:  true,
	enrollapi.CodeForbidden:       true,
	enrollapi.CodeUnauthenticated: true,
}

// waitAfter is how long to wait after a failed attempt: slow for a refusal
// a person must fix, else backing off from the retry interval.
func (a *Agent) waitAfter(err error, failures int) time.Duration {
	if needsPerson[towerCode(err)] {
		return a.slowRetry
	}
	base := a.retry
	if base <= 0 {
		base = DefaultRetry
	}
	return backoff(base, a.maxBackoff, failures)
}

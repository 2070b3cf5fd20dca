package agent

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/skerry/skerry/services/api/enrollapi"
)

// report posts the site's status to the tower over mutual TLS until ctx
// ends. Failures are logged and retried at the next interval: the tower
// shows the site offline meanwhile, which is the truth.
func (a *Agent) report(ctx context.Context, roots *x509.CertPool, id *Identity, key siteKey) error {
	leaf, err := id.Cert()
	if err != nil {
		return err
	}
	// The private key is the TPM's (or the software key): crypto/tls calls
	// its Sign once per handshake, and keep-alive makes handshakes rare.
	cert := &tls.Certificate{Certificate: [][]byte{id.Certificate}, PrivateKey: key, Leaf: leaf}
	c := newTowerClient(a.tower.URL, roots, cert)
	defer func() { c.close() }()
	var cur atomic.Pointer[towerClient] // c, for the desired-state loop
	cur.Store(c)
	if a.workloadSocket != "" {
		ctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { defer close(done); a.followDesired(ctx, cur.Load, id.SiteID) }()
		defer func() { cancel(); <-done }()
	}

	every := a.reportInterval(id.ReportInterval)
	var n narrator
	ok := false
	for {
		if renewDue(leaf, time.Now()) {
			if next, err := a.renew(ctx, c, id, key); err != nil {
				a.log.Warn(fmt.Sprintf("renewing the certificate of site %s (valid until %s) failed: %v; trying again at the next report", id.SiteID, leaf.NotAfter.UTC().Format(time.DateTime), err))
			} else {
				id = next
				leaf, _ = next.Cert() // next.check parsed it

				c.close()
				c = newTowerClient(a.tower.URL, roots, &tls.Certificate{Certificate: [][]byte{id.Certificate}, PrivateKey: key, Leaf: leaf})
				cur.Store(c)
				a.log.Info(fmt.Sprintf("site %s: certificate renewed, valid until %s", id.SiteID, leaf.NotAfter.UTC().Format(time.DateTime)))
			}
		}
		st := a.status()
		st.Apps = a.appStatuses(ctx)
		st.Vault = a.vaultStep(ctx, c, id)
		st.VaultKey = a.vaultKey(ctx)
		hdr, err := c.post(ctx, enrollapi.PathStatus, st, nil)
		if ctx.Err() != nil {
			return nil // stopping: the failed post is no news
		}
		if err != nil {
			ok = false
			n.say(a.log, "error", fmt.Sprintf("reporting status to %s as site %s failed: %v", a.tower.URL, id.SiteID, err))
		} else {
			if s, err := strconv.Atoi(hdr.Get(enrollapi.HeaderReportInterval)); err == nil && s > 0 {
				every = a.reportInterval(time.Duration(s) * time.Second)
			}
			id = a.keepUplink(id, hdr.Get(enrollapi.HeaderUplinkAddress))
			// Say so when reporting starts and when it recovers, not at
			// every report; a fresh narrator lets the next failure through.
			if !ok {
				a.log.Info(fmt.Sprintf("reporting status to %s as site %s every %v", a.tower.URL, id.SiteID, every))
				n = narrator{}
			}
			ok = true
		}
		if err := sleep(ctx, every); err != nil {
			return nil
		}
	}
}

// keepUplink saves the uplink address the tower's answer named when it
// differs from the identity's, so skerry uplink finds its parent without
// editing; an answer without one changes nothing.
func (a *Agent) keepUplink(id *Identity, addr string) *Identity {
	addr = validUplink(addr)
	if addr == "" || addr == id.Uplink {
		return id
	}
	next := *id
	next.Uplink = addr
	if err := next.Save(a.home); err != nil {
		a.log.Warn(fmt.Sprintf("keeping the uplink address %s the tower named failed: %v; trying again at the next report", addr, err))
		return id
	}
	a.log.Info(fmt.Sprintf("the tower says to uplink to %s (was %q); saved in %s", addr, id.Uplink, IdentityFile))
	return &next
}

// validUplink returns addr if it is a host:port a dialer can take, else
// "": what the tower says is kept only in a shape the uplink can use.
func validUplink(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host == "" || port == "" || len(addr) > 261 || strings.ContainsFunc(addr, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		return ""
	}
	return addr
}

// reportInterval is the configured interval, else the tower's, else the
// default.
func (a *Agent) reportInterval(tower time.Duration) time.Duration {
	switch {
	case a.reportEvery > 0:
		return a.reportEvery
	case tower > 0:
		return tower
	}
	return DefaultReportInterval
}

// status is the report of this moment.
func (a *Agent) status() *enrollapi.StatusReport {
	return &enrollapi.StatusReport{
		AgentVersion:  a.agentVersion,
		ImageVersion:  a.imageVersion,
		UptimeSeconds: uptime(),
		BootID:        bootID(),
	}
}

// renewDue reports whether the certificate is in the last third of its
// life: renewal starts months before a one-year certificate expires, so a
// tower that is away for weeks does not lock the site out.
func renewDue(leaf *x509.Certificate, now time.Time) bool {
	life := leaf.NotAfter.Sub(leaf.NotBefore)
	return leaf.NotAfter.Sub(now) < life/3
}

// renew asks the tower for a new certificate for the same TPM-held key,
// over mutual TLS with the current one, and saves it. Until the new
// certificate is first used the tower accepts the old one, so a power cut
// before the save costs nothing but another renewal.
func (a *Agent) renew(ctx context.Context, c *towerClient, id *Identity, key siteKey) (*Identity, error) {
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{}, key)
	if err != nil {
		return nil, fmt.Errorf("sign a certificate request with the site key: %w", err)
	}
	var res enrollapi.EnrollResult
	if _, err := c.post(ctx, enrollapi.PathRenew, enrollapi.Renew{CSR: csr}, &res); err != nil {
		return nil, err
	}
	next := *id
	next.Certificate, next.CACertificate = res.Certificate, res.CACertificate
	if err := next.check(key); err != nil {
		return nil, fmt.Errorf("check the renewed certificate: %w", err)
	}
	if err := next.Save(a.home); err != nil {
		return nil, err
	}
	return &next, nil
}

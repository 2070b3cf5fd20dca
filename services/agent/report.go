package agent

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"strconv"
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
	defer c.close()

	every := a.reportInterval(id.ReportInterval)
	var n narrator
	ok := false
	for {
		hdr, err := c.post(ctx, enrollapi.PathStatus, a.status(), nil)
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

package agent

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"time"

	"github.com/skerry/skerry/services/contract"
	"github.com/skerry/skerry/services/siteconfig"
)

// Agent is the site's registration agent.
type Agent struct {
	tower         siteconfig.Tower
	home          string
	tpmPath       string
	allowSoftware bool
	hostname      string
	serial        string
	agentVersion  string
	imageVersion  string
	retry         time.Duration // 0: as the tower says
	slowRetry     time.Duration
	maxBackoff    time.Duration
	reportEvery   time.Duration // 0: as the tower says
	log           *slog.Logger
	ready         func() error
	// workloadSocket is the workload service's API ("": none).
	workloadSocket string
	// vaultSocket and vaultTokenFile reach the vault (vault.go, unseal.go;
	// socket "": none); tpm is the TPM Run opened, vault what the agent
	// remembers of the vault.
	vaultSocket, vaultTokenFile string
	tpm                         *TPM
	vault                       vaultSide
}

// New returns an agent for the tower in the site config.
func New(tower siteconfig.Tower, opts ...Option) *Agent {
	a := &Agent{
		tower:      tower,
		home:       DefaultHome,
		tpmPath:    DefaultTPM,
		slowRetry:  DefaultSlowRetry,
		maxBackoff: DefaultMaxBackoff,
		log:        slog.Default(),
		ready:      func() error { return nil },

		workloadSocket: contract.WorkloadSocket,
		vaultSocket:    contract.VaultSocket,
		vaultTokenFile: DefaultVaultTokenFile,
	}
	a.hostname, _ = os.Hostname()
	for _, o := range opts {
		o(a)
	}
	return a
}

// Run gives the box its identity and reports its status until ctx ends.
//
// It loads the identity kept in the home directory, or enrolls when there
// is none (or none it can use), and calls the ready function once it is
// running its loop, before a first enrollment, so that a box whose tower
// is away still boots. Without a tower URL it idles. A refusal no restart
// can cure (ErrConfig, or ErrNoTPM where software identity is not allowed)
// is returned after the ready call, for the same reason.
func (a *Agent) Run(ctx context.Context) error {
	if a.tower.URL == "" {
		a.log.Info("no tower configured (tower.url in the site config is empty): not enrolling")
		if err := a.ready(); err != nil {
			return err
		}
		<-ctx.Done()
		return nil
	}
	roots, err := a.checkTower()
	if err != nil {
		return a.refuse(err)
	}
	id, err := a.loadIdentity()
	if err != nil {
		return err
	}

	// The TPM is needed unless the kept identity is a software one. A box
	// that enrolled with its TPM never falls back to software: that would
	// quietly make a second, weaker identity for the same box.
	var t *TPM
	if id == nil || !id.Software {
		t, err = OpenTPM(a.tpmPath)
		switch {
		case err == nil:
			defer t.Close()
			a.tpm = t
		case errors.Is(err, ErrNoTPM) && id == nil && a.allowSoftware:
			a.log.Warn(fmt.Sprintf("no TPM (%v): enrolling with a software identity, as the site config allows", err))
		case errors.Is(err, ErrNoTPM) && id == nil:
			return a.refuse(fmt.Errorf("not enrolling: this box has no usable TPM (%w); a box without one enrolls only where the site config sets tower.allowSoftwareIdentity and the tower's tenant allows software identity", err))
		default:
			return fmt.Errorf("open the TPM that holds this site's identity: %w", err)
		}
	}

	var key siteKey
	if id != nil {
		key, err = a.loadKey(t, id)
		if err != nil {
			return err
		}
		if key == nil {
			id = nil
		}
	}
	if id != nil {
		a.log.Info(fmt.Sprintf("site %s: identity from %s (enrolled %s)", id.SiteID, a.home, id.EnrolledAt.Format(time.DateOnly)), "software", id.Software)
	}
	// Ready before enrolling: the tower may be away for days, and the box
	// must finish booting meanwhile.
	if err := a.ready(); err != nil {
		if key != nil {
			key.Close()
		}
		return err
	}
	if id == nil {
		id, key, err = a.enroll(ctx, t, roots)
		if errors.Is(err, context.Canceled) {
			return nil
		}
		if err != nil {
			return err
		}
	}
	defer key.Close()
	return a.report(ctx, roots, id, key)
}

// refuse reports a refusal that restarting cannot cure. It still calls
// ready: the box boots, and the agent's log says why it did not enroll.
func (a *Agent) refuse(err error) error {
	a.log.Error(err.Error())
	if rerr := a.ready(); rerr != nil {
		return errors.Join(err, rerr)
	}
	return err
}

// checkTower checks the tower settings and returns the roots that verify
// the tower (nil, the system's, when the config carries no CA).
func (a *Agent) checkTower() (*x509.CertPool, error) {
	u, err := url.Parse(a.tower.URL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("%w: tower.url %q: want https://host[:port]", ErrConfig, a.tower.URL)
	}
	if a.tower.CA == "" {
		return nil, nil
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM([]byte(a.tower.CA)) {
		return nil, fmt.Errorf("%w: tower.ca holds no PEM certificate", ErrConfig)
	}
	return roots, nil
}

// loadIdentity returns the kept identity, or nil when the box must enroll:
// none yet, one that is corrupt, or one from another tower. What it will
// not use it sets aside, and says so.
func (a *Agent) loadIdentity() (*Identity, error) {
	id, err := LoadIdentity(a.home)
	switch {
	case errors.Is(err, ErrNoIdentity):
		a.log.Info(fmt.Sprintf("no identity in %s: this box has not enrolled", a.home))
		return nil, nil
	case errors.Is(err, ErrIdentityCorrupt):
		return nil, a.discard(err)
	case err != nil:
		// The file is there but unreadable (an I/O error): leave it
		// alone, fail, and let the supervisor try again.
		return nil, err
	}
	if id.Tower != a.tower.URL {
		return nil, a.discard(fmt.Errorf("the identity in %s is from %s, but the site config names %s", a.home, id.Tower, a.tower.URL))
	}
	if cert, err := id.Cert(); err == nil && time.Now().After(cert.NotAfter) {
		a.log.Warn(fmt.Sprintf("site %s: certificate expired on %s; the tower will refuse it", id.SiteID, cert.NotAfter.Format(time.DateOnly)))
	}
	return id, nil
}

// discard sets an unusable identity aside so the box enrolls again.
func (a *Agent) discard(why error) error {
	a.log.Error(fmt.Sprintf("%v: setting it aside as %s.old and enrolling again", why, IdentityFile))
	return setAside(a.home)
}

// loadKey loads the identity's key, and checks it is the certificate's.
// It returns a nil key (and sets the identity aside) when the identity
// does not work on this box, so that the box enrolls again.
func (a *Agent) loadKey(t *TPM, id *Identity) (siteKey, error) {
	if id.Software {
		k, err := parseSoftKey(id.Key)
		if err == nil {
			err = id.check(k)
		}
		if err != nil {
			return nil, a.discard(fmt.Errorf("%w: %w", ErrIdentityCorrupt, err))
		}
		return k, nil
	}
	k, err := a.loadTPMKey(t, id)
	if err == nil {
		if err = id.check(k); err != nil {
			k.Close()
		}
	}
	if err == nil {
		return k, nil
	}
	// A TPM that answers nothing is not a reason to throw the identity
	// away; a TPM that works but will not load the blobs (cleared, or not
	// the TPM they were made on) is.
	if _, ekErr := t.EK(); ekErr != nil {
		return nil, fmt.Errorf("load identity: %w (and the TPM does not answer: %w)", err, ekErr)
	}
	return nil, a.discard(fmt.Errorf("%w: %w", ErrIdentityCorrupt, err))
}

// loadTPMKey loads the AK (only to check it still loads: it is not needed
// once registered) and the TLS key.
func (a *Agent) loadTPMKey(t *TPM, id *Identity) (*Key, error) {
	ak, err := t.LoadAK(id.AK)
	if err != nil {
		return nil, err
	}
	if err := ak.Close(); err != nil {
		return nil, err
	}
	return t.LoadKey(id.Key)
}

package uplink

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/skerry/skerry/services/api/uplinkapi"
	"github.com/skerry/skerry/services/siteconfig"
)

// SiteConfig configures RunSite: the uplink as init runs it on a box.
type SiteConfig struct {
	// IdentityDir holds the agent's identity.json.
	IdentityDir string
	// Broker, when set, is the parent whatever the site config and the
	// tower say (the -broker flag).
	Broker string
	// Site is the site config's uplink section.
	Site siteconfig.Uplink
	// Connect makes the TLS configuration of the site's identity for a
	// parent; release frees what it holds (the TPM).
	Connect func(parent string) (site string, tc *tls.Config, release func(), err error)
	// Uplink is the template of each Uplink: Log, Rules, MaxBatch,
	// AckTimeout, Logger, Monitor (Site, Broker and TLS are filled in).
	Uplink Config
	// Poll is how often the identity is looked at while waiting for it
	// or for a parent, and while running, for a new parent; default 5 s.
	Poll time.Duration
}

// Where the parent came from (uplinkapi.Status.ParentFrom).
const (
	FromFlag       = "flag"
	FromSiteConfig = "site config"
	FromTower      = "tower"
)

// siteIdentity is the part of the agent's identity.json the uplink needs
// before it loads the key: the site and the parent the tower named.
type siteIdentity struct {
	SiteID string `json:"siteId"`
	// Uplink is host:port of the parent's MQTT over TLS listener, as the
	// tower hands it out at enrollment and in its report answers.
	Uplink string `json:"uplink,omitempty"`
}

// errNoIdentity: the box is not registered (no identity.json yet).
var errNoIdentity = errors.New("no site identity")

// Parent returns the parent to use and where it came from: the flag, else
// the site config's uplink.parent, else the identity's uplink. parent is
// "" when none names one; err is errNoIdentity (wrapped) before the box is
// registered.
func (c SiteConfig) Parent() (site, parent, from string, err error) {
	data, err := os.ReadFile(filepath.Join(c.IdentityDir, "identity.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return "", "", "", fmt.Errorf("%w in %s: the agent writes it when the box registers", errNoIdentity, c.IdentityDir)
	}
	if err != nil {
		return "", "", "", fmt.Errorf("read site identity: %w", err)
	}
	var id siteIdentity
	if err := json.Unmarshal(data, &id); err != nil {
		return "", "", "", fmt.Errorf("site identity %s: %w", c.IdentityDir, err)
	}
	switch {
	case c.Broker != "":
		return id.SiteID, c.Broker, FromFlag, nil
	case c.Site.Parent != "":
		return id.SiteID, c.Site.Parent, FromSiteConfig, nil
	case id.Uplink != "":
		if err := siteconfig.CheckHostPort(id.Uplink); err != nil {
			return id.SiteID, "", "", fmt.Errorf("the tower named parent %q in identity.json: %w; set uplink.parent in the site config meanwhile", id.Uplink, err)
		}
		return id.SiteID, id.Uplink, FromTower, nil
	}
	return id.SiteID, "", "", nil
}

// RunSite runs the uplink until ctx ends and never gives up: it waits for
// the box to be registered, for a parent, and after an identity it cannot
// use, saying why in the log (once per change) and in the Monitor's
// state. When the parent changes (a new site config, the tower naming
// another) it reconnects there.
func RunSite(ctx context.Context, c SiteConfig) error {
	if c.Poll <= 0 {
		c.Poll = 5 * time.Second
	}
	if c.Uplink.Logger == nil {
		c.Uplink.Logger = slog.Default()
	}
	if c.Uplink.Monitor == nil {
		c.Uplink.Monitor = NewMonitor(c.Uplink.Log, c.Uplink.Rules)
	}
	log, mon := c.Uplink.Logger, c.Uplink.Monitor
	said := ""
	say := func(state, reason string) {
		mon.SetState(state, reason)
		if reason != said {
			said = reason
			log.Info("uplink idle: "+reason, "state", state)
		}
	}
	if !c.Site.On() {
		say(uplinkapi.StateDisabled, "uplink.enabled is false in the site config: nothing leaves the box")
		<-ctx.Done()
		return nil
	}
	for {
		wait := c.Poll
		site, parent, from, err := c.Parent()
		switch {
		case errors.Is(err, errNoIdentity):
			say(uplinkapi.StateNoIdentity, "waiting for the box to register: "+err.Error())
		case err != nil:
			say(uplinkapi.StateError, err.Error())
		case parent == "":
			say(uplinkapi.StateNoParent, "no parent: the tower named none at enrollment and the site config has no uplink.parent")
		default:
			said = ""
			mon.SetParent(site, parent, from)
			if err := c.run(ctx, site, parent); err != nil {
				say(uplinkapi.StateError, err.Error())
				wait = time.Minute
			}
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return nil
		}
	}
}

// run replicates to parent until ctx ends or the parent changes.
func (c SiteConfig) run(ctx context.Context, site, parent string) error {
	_, tc, release, err := c.Connect(parent)
	if err != nil {
		return fmt.Errorf("site identity: %w", err)
	}
	defer release()
	uc := c.Uplink
	uc.Site, uc.Broker, uc.TLS = site, parent, tc
	u, err := New(uc)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		for {
			select {
			case <-time.After(c.Poll):
			case <-ctx.Done():
				return
			}
			if s, p, _, err := c.Parent(); err == nil && (p != parent || s != site) {
				uc.Logger.Info("parent changed: reconnecting", "from", parent, "to", p)
				cancel()
				return
			}
		}
	}()
	return u.Run(ctx)
}

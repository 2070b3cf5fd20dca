package hub

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/skerry/skerry/services/api/towerapi"
	"github.com/skerry/skerry/services/atomicfile"
)

// RevocationsPath is the tower's route a hub fetches its revocation list
// from, authenticated by its hub certificate.
const RevocationsPath = "/v1/hubs/self/revocations"

// Revocations is a standalone hub's copy of the tower's revoked sites and
// hubs: a hub away from the tower cannot see its registry, so it fetches
// the list with its own hub certificate and refuses what it names (its
// Admit is Config.Admit). The list is kept in File, so a hub that
// restarts while the tower is away still refuses what it last knew.
type Revocations struct {
	tower string // the tower's API URL
	hc    *http.Client
	file  string
	log   *slog.Logger

	mu    sync.RWMutex
	sites map[string]bool
	hubs  map[string]bool
	at    time.Time // when the tower made the list held; zero: none yet
}

// RevocationsConfig configures Revocations.
type RevocationsConfig struct {
	// Tower is the tower's API URL (https://host:port).
	Tower string
	// TLS presents the hub certificate (OU hub) the tower issued (POST
	// /v1/hubs) and trusts the tower CA.
	TLS *tls.Config
	// File keeps the last list fetched (JSON, towerapi.Revocations).
	File string
	Log  *slog.Logger
}

// NewRevocations loads the list kept in c.File, if any.
func NewRevocations(c RevocationsConfig) (*Revocations, error) {
	r := &Revocations{tower: strings.TrimRight(c.Tower, "/"), file: c.File, log: c.Log,
		hc: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: c.TLS}}}
	data, err := os.ReadFile(c.File)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return r, nil
	case err != nil:
		return nil, fmt.Errorf("read revocation list: %w", err)
	}
	var l towerapi.Revocations
	if err := json.Unmarshal(data, &l); err != nil {
		return nil, fmt.Errorf("revocation list %s: %w (delete it: the hub fetches it again from the tower)", c.File, err)
	}
	r.set(l)
	return r, nil
}

func (r *Revocations) set(l towerapi.Revocations) {
	sites, hubs := make(map[string]bool, len(l.Sites)), make(map[string]bool, len(l.Hubs))
	for _, s := range l.Sites {
		sites[s] = true
	}
	for _, h := range l.Hubs {
		hubs[h] = true
	}
	r.mu.Lock()
	r.sites, r.hubs, r.at = sites, hubs, l.At
	r.mu.Unlock()
}

// Admit refuses a site or a hub the tower's list says is revoked; it is
// a Config.Admit. Until a first list arrives, everything the CA signed
// gets through, as without a list.
func (r *Revocations) Admit(id string, hub bool, _ *x509.Certificate) error {
	r.mu.RLock()
	defer r.mu.RUnlock()
	switch {
	case hub && r.hubs[id]:
		return fmt.Errorf("hub %s is revoked at the tower (list of %s)", id, r.at.Format(time.RFC3339))
	case !hub && r.sites[id]:
		return fmt.Errorf("site %s is revoked at the tower (list of %s)", id, r.at.Format(time.RFC3339))
	}
	return nil
}

// Fetch gets the list from the tower and keeps it.
func (r *Revocations) Fetch(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.tower+RevocationsPath, nil)
	if err != nil {
		return fmt.Errorf("revocation list: %w", err)
	}
	resp, err := r.hc.Do(req)
	if err != nil {
		return fmt.Errorf("fetch revocation list: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("fetch revocation list: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("fetch revocation list: %s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	var l towerapi.Revocations
	if err := json.Unmarshal(body, &l); err != nil {
		return fmt.Errorf("fetch revocation list: decode: %w", err)
	}
	if err := atomicfile.WriteFile(r.file, body, 0o600); err != nil {
		return err
	}
	r.set(l)
	return nil
}

// Run fetches the list every interval until ctx ends, logging failures
// (the last list stays in force while the tower is away).
func (r *Revocations) Run(ctx context.Context, every time.Duration) {
	failing := false
	for {
		if err := r.Fetch(ctx); err != nil && ctx.Err() == nil {
			if !failing {
				r.log.Warn("revocation list not updated; the last one stays in force", "err", err)
			}
			failing = true
		} else if failing {
			r.log.Info("revocation list updated again")
			failing = false
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
	}
}

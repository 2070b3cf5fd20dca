package tower

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/skerry/skerry/services/api/enrollapi"
	"github.com/skerry/skerry/services/api/workloadapi"
	"github.com/skerry/skerry/services/httpjson"
	"github.com/skerry/skerry/services/serve"
	"github.com/skerry/skerry/services/tower/store"
)

// desiredWait is how long GET /v1/sites/self/desired?wait= holds a request
// whose revision has not changed.
const desiredWait = 30 * time.Second

// notifier wakes the long-polls of desired state when apps or deployments
// change. Every waiter recomputes its own site's state, so one broadcast
// serves all sites: a change is rare next to the sites' polls.
// It also bounds the held requests, as serve.Streaming asks: at most
// maxHeld in all and maxHeldPerSite per site (an agent holds one).
type notifier struct {
	mu   sync.Mutex
	ch   chan struct{}
	held map[string]int // by site
	all  int
}

const (
	maxHeld        = 1 << 16
	maxHeldPerSite = 4
)

func newNotifier() *notifier { return &notifier{ch: make(chan struct{}), held: map[string]int{}} }

// hold counts a held request of site, or refuses it when too many are.
func (n *notifier) hold(site string) (release func(), err error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.all >= maxHeld || n.held[site] >= maxHeldPerSite {
		return nil, &httpjson.Error{Status: http.StatusServiceUnavailable, Code: httpjson.CodeBusy,
			Message: fmt.Sprintf("too many held desired-state requests (site %s holds %d, the tower %d); retry later", site, n.held[site], n.all)}
	}
	n.all++
	n.held[site]++
	return func() {
		n.mu.Lock()
		defer n.mu.Unlock()
		n.all--
		if n.held[site]--; n.held[site] == 0 {
			delete(n.held, site)
		}
	}, nil
}

// wait returns a channel closed at the next change.
func (n *notifier) wait() <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.ch
}

// changed wakes every waiter.
func (n *notifier) changed() {
	n.mu.Lock()
	defer n.mu.Unlock()
	close(n.ch)
	n.ch = make(chan struct{})
}

// desiredFor computes a site's desired state: the deployed version of each
// of its tenant's apps whose deployment selects the site's labels.
func desiredFor(tx store.Tx, site store.Site) (enrollapi.Desired, error) {
	out := enrollapi.Desired{Apps: []*workloadapi.AppSpec{}, Quotas: map[string]workloadapi.Resources{}}
	ds, err := tx.Deployments(site.Tenant)
	if err != nil {
		return out, err
	}
	for _, d := range ds {
		if !d.Matches(site.Labels) {
			continue
		}
		v := versionFor(d, site.ID)
		if v == 0 {
			continue // a first rollout that has not reached the site
		}
		a, err := tx.App(d.Tenant, d.App, v)
		if err != nil {
			return out, err
		}
		out.Apps = append(out.Apps, withVersion(a))
	}
	t, err := tx.Tenant(site.Tenant)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return out, err
	}
	if t.Quota != nil {
		out.Quotas[site.Tenant] = *t.Quota
	}
	data, err := json.Marshal(out.Apps)
	if err != nil {
		return out, err
	}
	if len(out.Quotas) > 0 {
		// Only then: the revisions of sites without quotas stay as they were.
		q, _ := json.Marshal(out.Quotas)
		data = append(data, q...)
	}
	sum := sha256.Sum256(data)
	out.Revision = hex.EncodeToString(sum[:12])
	return out, nil
}

// withVersion is a's spec labelled with its version, so the site's
// status reports say which version runs (workloadapi.LabelAppVersion).
func withVersion(a store.App) *workloadapi.AppSpec {
	spec := *a.Spec
	spec.Labels = maps.Clone(spec.Labels)
	if spec.Labels == nil {
		spec.Labels = map[string]string{}
	}
	spec.Labels[workloadapi.LabelAppVersion] = strconv.Itoa(a.Version)
	return &spec
}

// siteDesired answers the calling site's desired state. With ?wait=REV it
// holds the request, outside the in-flight limit, until the state's
// revision differs from REV or desiredWait passes.
func (s *Server) siteDesired(w http.ResponseWriter, r *http.Request, p principal) error {
	wait, waiting := r.URL.Query()["wait"]
	if waiting && (len(wait) != 1 || len(wait[0]) > 64) {
		return refuse(ErrBadRequest, "wait: give one revision, as a previous answer carried it")
	}
	var deadline <-chan time.Time
	if waiting {
		release, err := s.desired.hold(p.site.ID)
		if err != nil {
			return err
		}
		defer release()
		serve.Streaming(w, r)
		t := time.NewTimer(desiredWait)
		defer t.Stop()
		deadline = t.C
	}
	for {
		changed := s.desired.wait() // before reading, so no change is missed
		var d enrollapi.Desired
		err := s.store.View(r.Context(), func(tx store.Tx) error {
			site, err := tx.Site(p.site.ID)
			if err != nil {
				return err
			}
			if site.Revoked {
				return refuse(ErrSiteRevoked, "site %s was revoked", site.ID)
			}
			if d, err = desiredFor(tx, site); err != nil {
				return err
			}
			return s.addSiteSecrets(tx, site, &d)
		})
		if err != nil {
			return err
		}
		if !waiting || d.Revision != wait[0] {
			writeJSON(w, http.StatusOK, d)
			return nil
		}
		select {
		case <-changed:
		case <-deadline:
			writeJSON(w, http.StatusOK, d)
			return nil
		case <-r.Context().Done():
			return r.Context().Err()
		}
	}
}

package tower

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/skerry/skerry/services/api/towerapi"
	"github.com/skerry/skerry/services/tower/store"
)

// The rollout driver: one goroutine (started by Serve) that advances
// every progressing rollout when a site reports and at least every
// rolloutTick, so timeouts and healthy periods pass without reports too.
// The set of progressing rollouts is kept in memory and read from the
// store at start, so a restarted tower carries on.

const (
	rolloutTick = time.Second
	// rolloutGap spaces passes apart: a burst of reports costs one pass.
	rolloutGap = 100 * time.Millisecond
)

type rolloutKey struct{ tenant, app string }

// rolloutDriver knows which rollouts progress and when to look at them.
type rolloutDriver struct {
	kick   chan struct{}
	mu     sync.Mutex
	active map[rolloutKey]bool
}

func newRolloutDriver() *rolloutDriver {
	return &rolloutDriver{kick: make(chan struct{}, 1), active: map[rolloutKey]bool{}}
}

// poke asks for a pass soon; it never blocks.
func (rd *rolloutDriver) poke() {
	select {
	case rd.kick <- struct{}{}:
	default:
	}
}

// watch adds a progressing rollout and asks for a pass.
func (rd *rolloutDriver) watch(tenant, app string) {
	rd.mu.Lock()
	rd.active[rolloutKey{tenant, app}] = true
	rd.mu.Unlock()
	rd.poke()
}

func (rd *rolloutDriver) list() []rolloutKey {
	rd.mu.Lock()
	defer rd.mu.Unlock()
	out := make([]rolloutKey, 0, len(rd.active))
	for k := range rd.active {
		out = append(out, k)
	}
	return out
}

// pokeIfActive asks for a pass when any rollout progresses: a status
// report calls it.
func (rd *rolloutDriver) pokeIfActive() {
	rd.mu.Lock()
	n := len(rd.active)
	rd.mu.Unlock()
	if n > 0 {
		rd.poke()
	}
}

// runRollouts drives rollouts until ctx ends.
func (s *Server) runRollouts(ctx context.Context) {
	if err := s.loadRollouts(ctx); err != nil {
		s.log.Error("load rollouts; they resume at the next change", "err", err)
	}
	t := time.NewTicker(rolloutTick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.rollouts.kick:
		}
		s.rolloutPass(ctx)
		select {
		case <-ctx.Done():
			return
		case <-time.After(rolloutGap):
		}
	}
}

// loadRollouts finds the progressing rollouts in the store.
func (s *Server) loadRollouts(ctx context.Context) error {
	return s.store.View(ctx, func(tx store.Tx) error {
		for p := (store.Page{Limit: 1000}); ; {
			ts, next, err := tx.Tenants(p)
			if err != nil {
				return err
			}
			for _, t := range ts {
				ds, err := tx.Deployments(t.ID)
				if err != nil {
					return err
				}
				for _, d := range ds {
					if d.Rollout != nil && d.Rollout.State == towerapi.RolloutProgressing {
						s.rollouts.watch(d.Tenant, d.App)
					}
				}
			}
			if next == "" {
				return nil
			}
			p.Cursor = next
		}
	})
}

// errUnchanged rolls back a pass's transaction that changed nothing, so
// an idle pass costs no write.
var errUnchanged = errors.New("unchanged")

// rolloutPass advances each progressing rollout in its own transaction.
func (s *Server) rolloutPass(ctx context.Context) {
	wake := false
	for _, k := range s.rollouts.list() {
		var desired, progressing bool
		err := s.store.Update(ctx, func(tx store.Tx) error {
			d, err := tx.Deployment(k.tenant, k.app)
			if errors.Is(err, store.ErrNotFound) {
				return errUnchanged
			} else if err != nil {
				return err
			}
			changed, dc, err := s.advance(tx, &d, s.now())
			if err != nil {
				return err
			}
			progressing, desired = d.Rollout != nil && d.Rollout.State == towerapi.RolloutProgressing, dc
			if !changed {
				return errUnchanged
			}
			d.Rollout.UpdatedAt = s.now()
			return tx.PutDeployment(d)
		})
		switch {
		case errors.Is(err, errUnchanged):
		case err != nil:
			s.log.Error("advance rollout", "tenant", k.tenant, "app", k.app, "err", err)
			continue // try again at the next pass
		}
		if !progressing {
			s.rollouts.mu.Lock()
			delete(s.rollouts.active, k)
			s.rollouts.mu.Unlock()
		}
		wake = wake || desired
	}
	if wake {
		s.desired.changed()
	}
}

// rolloutAction is what pause, resume and rollback do to a rollout.
type rolloutAction struct {
	name string
	// from lists the states the action applies to.
	from []string
	do   func(r *towerapi.Rollout, by string, now time.Time)
}

var (
	pauseAction = rolloutAction{"pause", []string{towerapi.RolloutProgressing}, func(r *towerapi.Rollout, by string, _ time.Time) {
		r.State, r.Reason = towerapi.RolloutPaused, "paused by "+by
	}}
	resumeAction = rolloutAction{"resume", []string{towerapi.RolloutPaused}, func(r *towerapi.Rollout, by string, now time.Time) {
		r.State, r.Reason = towerapi.RolloutProgressing, ""
		// Failed and skipped sites get another chance, timed from now.
		for i := range r.Sites {
			if rs := &r.Sites[i]; rs.Step <= r.Step {
				setSite(rs, towerapi.RolloutUpdating, "", now)
				rs.Since = now
			}
		}
		r.Steps[r.Step].HealthySince = time.Time{}
	}}
	rollbackAction = rolloutAction{"rollback", []string{towerapi.RolloutProgressing, towerapi.RolloutPaused, towerapi.RolloutCompleted}, func(r *towerapi.Rollout, by string, _ time.Time) {
		r.State, r.Reason = towerapi.RolloutRolledBack, "rolled back by "+by
	}}
)

func (s *Server) pauseRollout(w http.ResponseWriter, r *http.Request, p principal) error {
	return s.rolloutAct(w, r, p, pauseAction)
}

func (s *Server) resumeRollout(w http.ResponseWriter, r *http.Request, p principal) error {
	return s.rolloutAct(w, r, p, resumeAction)
}

func (s *Server) rollbackRollout(w http.ResponseWriter, r *http.Request, p principal) error {
	return s.rolloutAct(w, r, p, rollbackAction)
}

// rolloutAct applies a person's action to an app's rollout and answers
// the deployment.
func (s *Server) rolloutAct(w http.ResponseWriter, r *http.Request, p principal, act rolloutAction) error {
	tenant, app := r.PathValue("tenant"), r.PathValue("app")
	if err := p.mayWrite(tenant); err != nil {
		return err
	}
	var d store.Deployment
	err := s.store.Update(r.Context(), func(tx store.Tx) (err error) {
		d, err = tx.Deployment(tenant, app)
		if err != nil {
			return notFound(err, "app %s/%s has no deployment", tenant, app)
		}
		if d.Rollout == nil {
			return refuse(ErrConflict, "the deployment of %s/%s has no strategy: it reached every site at once; to go back, deploy the version you want", tenant, app)
		}
		ok := false
		for _, st := range act.from {
			ok = ok || d.Rollout.State == st
		}
		if !ok {
			return refuse(ErrConflict, "the rollout of %s/%s version %d is %s; %s applies to a rollout that is %v", tenant, app, d.Version, d.Rollout.State, act.name, act.from)
		}
		now := s.now()
		act.do(d.Rollout, p.String(), now)
		d.Rollout.UpdatedAt = now
		return tx.PutDeployment(d)
	})
	if err != nil {
		return err
	}
	if d.Rollout.State == towerapi.RolloutProgressing {
		s.rollouts.watch(tenant, app)
	}
	s.desired.changed()
	s.log.Info("rollout "+act.name, "tenant", tenant, "app", app, "version", d.Version, "by", p.String())
	writeJSON(w, http.StatusOK, deploymentView(d))
	return nil
}

package tower

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/skerry/skerry/services/api/towerapi"
	"github.com/skerry/skerry/services/api/workloadapi"
	"github.com/skerry/skerry/services/tower/store"
)

// Rollouts (README.md, "Rollouts"): a deployment with a strategy reaches
// its sites step by step. The plan (which site is in which step) is made
// when the deployment is stored, from the sites its selector matches then;
// the state lives in the deployment record, so a restarted tower carries
// on where it stopped. Each site's desired version follows from the
// state: sites of the steps reached run the new version, the others the
// previous one. rollout_run.go drives the state from the sites' reports.

// Defaults of a strategy's unset fields.
const (
	defaultMaxFailures = 1
	defaultSiteTimeout = 10 * time.Minute
	maxStrategySeconds = 7 * 24 * 3600
)

// checkStrategy refuses a strategy that makes no sense, naming the field,
// and fills in the defaults.
func checkStrategy(st *towerapi.Strategy) error {
	bad := func(field, format string, args ...any) error {
		return refuse(ErrBadRequest, "strategy.%s: %s", field, fmt.Sprintf(format, args...))
	}
	for _, f := range []struct {
		name string
		v    int
	}{{"canary", st.Canary}, {"batchSize", st.BatchSize}, {"maxFailures", st.MaxFailures}} {
		if f.v < 0 {
			return bad(f.name, "%d: want 0 or more", f.v)
		}
	}
	for _, f := range []struct {
		name string
		v    int64
	}{{"canaryHealthySeconds", st.CanaryHealthySeconds}, {"batchHealthySeconds", st.BatchHealthySeconds}, {"siteTimeoutSeconds", st.SiteTimeoutSeconds}} {
		if f.v < 0 || f.v > maxStrategySeconds {
			return bad(f.name, "%d: want 0 to %d seconds (a week)", f.v, maxStrategySeconds)
		}
	}
	if st.CanaryHealthySeconds > 0 && st.Canary == 0 {
		return bad("canaryHealthySeconds", "set, but there is no canary step; give strategy.canary too")
	}
	if math.IsNaN(st.MaxFailureFraction) || st.MaxFailureFraction < 0 || st.MaxFailureFraction > 1 {
		return bad("maxFailureFraction", "%v: want a fraction from 0 to 1", st.MaxFailureFraction)
	}
	switch st.OnFailure {
	case "":
		st.OnFailure = towerapi.OnFailureRollback
	case towerapi.OnFailureRollback, towerapi.OnFailurePause:
	default:
		return bad("onFailure", "%q: want %q or %q", st.OnFailure, towerapi.OnFailureRollback, towerapi.OnFailurePause)
	}
	if st.MaxFailures == 0 && st.MaxFailureFraction == 0 {
		st.MaxFailures = defaultMaxFailures
	}
	if st.SiteTimeoutSeconds == 0 {
		st.SiteTimeoutSeconds = int64(defaultSiteTimeout / time.Second)
	}
	return nil
}

// stableVersion is the version a deployment's sites fall back to when a
// new rollout replaces it: the version its last rollout completed, or
// that rollout's own previous version if it did not complete.
func stableVersion(d store.Deployment) int {
	if r := d.Rollout; r != nil && r.State != towerapi.RolloutCompleted {
		return r.Previous
	}
	return d.Version
}

// newRollout plans the rollout of d: the tenant's sites its selector
// matches now (not revoked), by name, the first strategy.Canary of them
// the canary step and the rest in batches. Sites that match later join
// the last step. The first step starts at once.
func newRollout(tx store.Tx, d store.Deployment, previous int, now time.Time) (*towerapi.Rollout, error) {
	st := d.Strategy
	var sites []store.Site
	for p := (store.Page{Limit: 1000}); ; {
		page, next, err := tx.Sites(store.Filter{Tenant: d.Tenant}, p)
		if err != nil {
			return nil, err
		}
		for _, s := range page {
			if !s.Revoked && d.Matches(s.Labels) {
				sites = append(sites, s)
			}
		}
		if next == "" {
			break
		}
		p.Cursor = next
	}
	slices.SortFunc(sites, func(a, b store.Site) int { return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.ID, b.ID)) })

	r := &towerapi.Rollout{State: towerapi.RolloutProgressing, Previous: previous, UpdatedAt: now, Sites: []towerapi.RolloutSite{}, Steps: []towerapi.RolloutStep{}}
	addStep := func(name string, n int, healthy int64) {
		step := len(r.Steps)
		r.Steps = append(r.Steps, towerapi.RolloutStep{Name: name, Sites: n, HealthySeconds: healthy, State: towerapi.RolloutWaiting})
		for _, s := range sites[:n] {
			r.Sites = append(r.Sites, towerapi.RolloutSite{Site: s.ID, Name: s.Name, Step: step, State: towerapi.RolloutWaiting, Since: now})
		}
		sites = sites[n:]
	}
	if n := min(st.Canary, len(sites)); n > 0 {
		addStep("canary", n, st.CanaryHealthySeconds)
	}
	for i := 1; len(sites) > 0; i++ {
		n := len(sites)
		if st.BatchSize > 0 {
			n = min(st.BatchSize, n)
		}
		addStep(fmt.Sprintf("batch %d", i), n, st.BatchHealthySeconds)
	}
	if len(r.Steps) == 0 {
		r.State, r.Reason = towerapi.RolloutCompleted, "no site matched the selector"
		return r, nil
	}
	startStep(r, 0, now)
	return r, nil
}

// startStep makes step i the current one: its sites are reached.
func startStep(r *towerapi.Rollout, i int, now time.Time) {
	r.Step = i
	r.Steps[i].State, r.Steps[i].StartedAt = towerapi.RolloutUpdating, now
	for j := range r.Sites {
		if r.Sites[j].Step == i {
			setSite(&r.Sites[j], towerapi.RolloutUpdating, "", now)
		}
	}
}

func setSite(rs *towerapi.RolloutSite, state, reason string, now time.Time) bool {
	if rs.State == state && rs.Reason == reason {
		return false
	}
	if rs.State != state {
		rs.Since = now
	}
	rs.State, rs.Reason = state, reason
	return true
}

// versionFor is the app version site should run under d, 0 for none.
func versionFor(d store.Deployment, site string) int {
	r := d.Rollout
	switch {
	case r == nil || r.State == towerapi.RolloutCompleted:
		return d.Version
	case r.State == towerapi.RolloutRolledBack:
		return r.Previous
	}
	for _, rs := range r.Sites {
		if rs.Site == site {
			if rs.Step <= r.Step {
				return d.Version
			}
			return r.Previous
		}
	}
	// A site that matched after the plan was made is in the last step.
	if r.Step == len(r.Steps)-1 {
		return d.Version
	}
	return r.Previous
}

// siteVerdict judges a reached site by its last status report: healthy
// once it runs version healthy (or without a health check), failed when
// that version crashed or is unhealthy, or when it is online and not
// healthy within the site timeout; offline when it stayed silent past
// the timeout; updating while there is no verdict yet.
func (s *Server) siteVerdict(site store.Site, d store.Deployment, since, now time.Time) (state, reason string) {
	if site.Revoked {
		return towerapi.RolloutSkipped, "revoked"
	}
	if !d.Matches(site.Labels) {
		return towerapi.RolloutSkipped, "no longer matches the selector"
	}
	var st *workloadapi.Status
	for i := range site.Apps {
		if a := &site.Apps[i]; a.Tenant == d.Tenant && a.Name == d.App {
			st = a
		}
	}
	if st != nil && st.AppVersion == d.Version {
		switch {
		case st.Health == workloadapi.HealthUnhealthy:
			return towerapi.RolloutFailed, "unhealthy: " + st.HealthError
		case st.State == workloadapi.StateFailed || st.State == workloadapi.StateExited || st.State == workloadapi.StateBackoff:
			return towerapi.RolloutFailed, cmp.Or(st.State+": "+cmp.Or(st.Error, st.LastExit), st.State)
		case st.State == workloadapi.StateRunning && (st.Health == "" || st.Health == workloadapi.HealthHealthy):
			return towerapi.RolloutHealthy, ""
		}
	}
	timeout := time.Duration(d.Strategy.SiteTimeoutSeconds) * time.Second
	online := s.online(site, now)
	switch {
	case now.Sub(since) < timeout && online:
		return towerapi.RolloutUpdating, ""
	case now.Sub(since) < timeout:
		return towerapi.RolloutUpdating, "offline: waits until " + since.Add(timeout).UTC().Format(time.RFC3339)
	case online:
		return towerapi.RolloutFailed, fmt.Sprintf("not healthy on version %d within %s", d.Version, timeout)
	default:
		return towerapi.RolloutSkipped, fmt.Sprintf("offline for the %s site timeout; skipped", timeout)
	}
}

// advance moves a progressing rollout on from the sites' last reports:
// it judges every reached site, stops the rollout when too many failed,
// and starts the next step when the current one has been healthy long
// enough. It says whether the record changed and whether the sites'
// desired versions did.
func (s *Server) advance(tx store.Tx, d *store.Deployment, now time.Time) (changed, desired bool, err error) {
	r := d.Rollout
	if r == nil || r.State != towerapi.RolloutProgressing {
		return false, false, nil
	}
	for {
		failed, reached, current, done := 0, 0, 0, 0
		var firstFailure string
		for i := range r.Sites {
			rs := &r.Sites[i]
			if rs.Step > r.Step {
				continue
			}
			reached++
			if rs.State != towerapi.RolloutFailed && rs.State != towerapi.RolloutSkipped {
				// A failure stays until a person resumes; a skipped site
				// stays skipped.
				site, err := tx.Site(rs.Site)
				if err != nil {
					return false, false, err
				}
				state, reason := s.siteVerdict(site, *d, rs.Since, now)
				changed = setSite(rs, state, reason, now) || changed
			}
			if rs.State == towerapi.RolloutFailed {
				failed++
				if firstFailure == "" {
					firstFailure = fmt.Sprintf("site %s (%s): %s", rs.Name, rs.Site, rs.Reason)
				}
			}
			if rs.Step == r.Step {
				current++
				if rs.State == towerapi.RolloutHealthy || rs.State == towerapi.RolloutSkipped {
					done++
				}
			}
		}
		if r.Failed != failed {
			r.Failed, changed = failed, true
		}
		st := d.Strategy
		if failed > 0 && ((st.MaxFailures > 0 && failed >= st.MaxFailures) ||
			(st.MaxFailureFraction > 0 && float64(failed) >= st.MaxFailureFraction*float64(reached))) {
			reason := fmt.Sprintf("%d of %d sites reached failed, first %s", failed, reached, firstFailure)
			if st.OnFailure == towerapi.OnFailurePause {
				r.State, r.Reason = towerapi.RolloutPaused, reason+"; paused"
			} else {
				r.State, r.Reason = towerapi.RolloutRolledBack, reason+fmt.Sprintf("; rolled back to version %d", r.Previous)
				desired = true
			}
			s.log.Warn("rollout stopped", "tenant", d.Tenant, "app", d.App, "version", d.Version, "state", r.State, "reason", r.Reason)
			return true, desired, nil
		}
		step := &r.Steps[r.Step]
		if done < current {
			if !step.HealthySince.IsZero() {
				step.HealthySince, changed = time.Time{}, true
			}
			return changed, desired, nil
		}
		if step.HealthySince.IsZero() {
			step.HealthySince, changed = now, true
		}
		if now.Sub(step.HealthySince) < time.Duration(step.HealthySeconds)*time.Second {
			return changed, desired, nil
		}
		step.State, step.DoneAt, changed = towerapi.RolloutHealthy, now, true
		s.log.Info("rollout step done", "tenant", d.Tenant, "app", d.App, "version", d.Version, "step", step.Name)
		if r.Step == len(r.Steps)-1 {
			r.State, r.Reason = towerapi.RolloutCompleted, ""
			// Sites that matched after the plan was made run the new
			// version from the last step on: nothing changes for them.
			s.log.Info("rollout completed", "tenant", d.Tenant, "app", d.App, "version", d.Version)
			return true, desired, nil
		}
		startStep(r, r.Step+1, now)
		desired = true
	}
}

// rolloutView is a rollout as the API shows it: each site with the
// version it should run now.
func rolloutView(d store.Deployment) *towerapi.Rollout {
	if d.Rollout == nil {
		return nil
	}
	r := *d.Rollout
	r.Sites = slices.Clone(r.Sites)
	for i := range r.Sites {
		r.Sites[i].Version = versionFor(d, r.Sites[i].Site)
	}
	return &r
}

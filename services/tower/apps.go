package tower

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/skerry/skerry/services/api/towerapi"
	"github.com/skerry/skerry/services/api/workloadapi"
	"github.com/skerry/skerry/services/tower/store"
)

// Apps and deployments (README.md, "Apps and deployments"): a tenant's
// app specs are stored versioned, each PUT a new version; a deployment
// assigns one version to the tenant's sites whose labels match its
// selector. Readers of the tenant read both, tenant admins and operators
// change them.

func appView(a store.App) towerapi.App {
	return towerapi.App{Tenant: a.Tenant, Name: a.Name, Version: a.Version, Spec: a.Spec, CreatedAt: a.CreatedAt, CreatedBy: a.CreatedBy}
}

func deploymentView(d store.Deployment) towerapi.Deployment {
	return towerapi.Deployment{Tenant: d.Tenant, App: d.App, Version: d.Version, Selector: d.Selector, CreatedAt: d.CreatedAt, CreatedBy: d.CreatedBy,
		Strategy: d.Strategy, Rollout: rolloutView(d)}
}

// putApp stores a new version of an app. The body is the app spec, read
// by workloadapi.Parse, so the tower refuses what a site would refuse,
// naming the field.
func (s *Server) putApp(w http.ResponseWriter, r *http.Request, p principal) error {
	tenant, name := r.PathValue("tenant"), r.PathValue("name")
	if err := p.mayWrite(tenant); err != nil {
		return err
	}
	raw, err := decode[json.RawMessage](w, r)
	if err != nil {
		return err
	}
	spec, err := workloadapi.Parse(raw)
	if err != nil {
		return refuse(ErrBadRequest, "%v", err)
	}
	if spec.Tenant != tenant || spec.Name != name {
		return refuse(ErrBadRequest, "the spec is app %s/%s but the path names %s/%s; they must be the same", spec.Tenant, spec.Name, tenant, name)
	}
	var a store.App
	err = s.store.Update(r.Context(), func(tx store.Tx) error {
		if _, err := tenantExists(tx, tenant); err != nil {
			return err
		}
		a = store.App{Tenant: tenant, Name: name, Version: 1, Spec: spec, CreatedAt: s.now(), CreatedBy: p.String()}
		if last, err := tx.App(tenant, name, 0); err == nil {
			a.Version = last.Version + 1
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		return tx.PutApp(a)
	})
	if err != nil {
		return err
	}
	s.desired.changed()
	s.log.Info("app stored", "tenant", tenant, "app", name, "version", a.Version, "by", p.String())
	writeJSON(w, http.StatusOK, appView(a))
	return nil
}

// listApps lists the newest version of each of a tenant's apps.
func (s *Server) listApps(w http.ResponseWriter, r *http.Request, p principal) error {
	return serveTenantList(s, w, r, p, store.Tx.Apps, appView)
}

// serveTenantList answers all of the path's tenant's records of one kind
// as a single page: a tenant has few apps and deployments.
func serveTenantList[R, V any](s *Server, w http.ResponseWriter, r *http.Request, p principal,
	fetch func(store.Tx, string) ([]R, error), view func(R) V) error {
	tenant := r.PathValue("tenant")
	if err := p.mayRead(tenant); err != nil {
		return err
	}
	var out towerapi.List[V]
	err := s.store.View(r.Context(), func(tx store.Tx) error {
		items, err := fetch(tx, tenant)
		out.Items = mapSlice(items, view)
		return err
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// getApp shows an app's newest version, or ?version=N.
func (s *Server) getApp(w http.ResponseWriter, r *http.Request, p principal) error {
	tenant, name := r.PathValue("tenant"), r.PathValue("name")
	if err := p.mayRead(tenant); err != nil {
		return err
	}
	version := 0
	if v := r.URL.Query().Get("version"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return refuse(ErrBadRequest, "version %q: want a version number from 1", v)
		}
		version = n
	}
	var a store.App
	err := s.store.View(r.Context(), func(tx store.Tx) (err error) {
		a, err = tx.App(tenant, name, version)
		return notFound(err, "app %s/%s%s not found", tenant, name, versionSuffix(version))
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, appView(a))
	return nil
}

func versionSuffix(v int) string {
	if v == 0 {
		return ""
	}
	return fmt.Sprintf(" version %d", v)
}

// deleteApp deletes every version of an app. An app still deployed is
// refused: delete its deployment first, so sites stop it knowingly.
func (s *Server) deleteApp(w http.ResponseWriter, r *http.Request, p principal) error {
	tenant, name := r.PathValue("tenant"), r.PathValue("name")
	if err := p.mayWrite(tenant); err != nil {
		return err
	}
	err := s.store.Update(r.Context(), func(tx store.Tx) error {
		if _, err := tx.Deployment(tenant, name); err == nil {
			return refuse(ErrConflict, "app %s/%s is deployed; delete its deployment first (DELETE /v1/tenants/%s/deployments/%s)", tenant, name, tenant, name)
		} else if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		return notFound(tx.DeleteApp(tenant, name), "app %s/%s not found", tenant, name)
	})
	if err != nil {
		return err
	}
	s.log.Info("app deleted", "tenant", tenant, "app", name, "by", p.String())
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// putDeployment assigns an existing app version to the sites the selector
// matches, replacing the app's deployment if it has one.
func (s *Server) putDeployment(w http.ResponseWriter, r *http.Request, p principal) error {
	tenant, app := r.PathValue("tenant"), r.PathValue("app")
	if err := p.mayWrite(tenant); err != nil {
		return err
	}
	in, err := decode[towerapi.DeploymentSet](w, r)
	if err != nil {
		return err
	}
	if in.Version < 1 {
		return refuse(ErrBadRequest, "version %d: name a stored version of app %s/%s (from 1)", in.Version, tenant, app)
	}
	if err := checkLabels(in.Selector); err != nil {
		return err
	}
	if len(in.Selector) == 0 {
		in.Selector = nil
	}
	if in.Strategy != nil {
		if err := checkStrategy(in.Strategy); err != nil {
			return err
		}
	}
	d := store.Deployment{Tenant: tenant, App: app, Version: in.Version, Selector: in.Selector, CreatedAt: s.now(), CreatedBy: p.String(), Strategy: in.Strategy}
	err = s.store.Update(r.Context(), func(tx store.Tx) error {
		if _, err := tx.App(tenant, app, in.Version); err != nil {
			return notFound(err, "app %s/%s version %d not found; store it first with PUT /v1/tenants/%s/apps/%s", tenant, app, in.Version, tenant, app)
		}
		if d.Strategy != nil {
			// The sites not reached yet keep the version the old
			// deployment last completed.
			previous := 0
			if old, err := tx.Deployment(tenant, app); err == nil {
				previous = stableVersion(old)
			} else if !errors.Is(err, store.ErrNotFound) {
				return err
			}
			r, err := newRollout(tx, d, previous, d.CreatedAt)
			if err != nil {
				return err
			}
			d.Rollout = r
		}
		return tx.PutDeployment(d)
	})
	if err != nil {
		return err
	}
	if d.Rollout != nil && d.Rollout.State == towerapi.RolloutProgressing {
		s.rollouts.watch(tenant, app)
	}
	s.desired.changed()
	s.log.Info("deployment set", "tenant", tenant, "app", app, "version", d.Version, "selector", fmt.Sprint(d.Selector), "by", p.String())
	writeJSON(w, http.StatusOK, deploymentView(d))
	return nil
}

// listDeployments lists a tenant's deployments.
func (s *Server) listDeployments(w http.ResponseWriter, r *http.Request, p principal) error {
	return serveTenantList(s, w, r, p, store.Tx.Deployments, deploymentView)
}

// getDeployment shows one deployment.
func (s *Server) getDeployment(w http.ResponseWriter, r *http.Request, p principal) error {
	tenant, app := r.PathValue("tenant"), r.PathValue("app")
	if err := p.mayRead(tenant); err != nil {
		return err
	}
	var d store.Deployment
	err := s.store.View(r.Context(), func(tx store.Tx) (err error) {
		d, err = tx.Deployment(tenant, app)
		return notFound(err, "app %s/%s has no deployment", tenant, app)
	})
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, deploymentView(d))
	return nil
}

// deleteDeployment ends a deployment: the sites it selected stop the app
// at their next desired state.
func (s *Server) deleteDeployment(w http.ResponseWriter, r *http.Request, p principal) error {
	tenant, app := r.PathValue("tenant"), r.PathValue("app")
	if err := p.mayWrite(tenant); err != nil {
		return err
	}
	err := s.store.Update(r.Context(), func(tx store.Tx) error {
		return notFound(tx.DeleteDeployment(tenant, app), "app %s/%s has no deployment", tenant, app)
	})
	if err != nil {
		return err
	}
	s.desired.changed()
	s.log.Info("deployment deleted", "tenant", tenant, "app", app, "by", p.String())
	w.WriteHeader(http.StatusNoContent)
	return nil
}

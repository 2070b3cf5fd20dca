package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"time"

	"github.com/skerry/skerry/services/api/enrollapi"
	"github.com/skerry/skerry/services/api/workloadapi"
	"github.com/skerry/skerry/services/httpjson"
)

// Desired state (README.md, "Desired state"): the agent long-polls the
// tower for the apps this site should run and hands them to the local
// workload service, which keeps them on /perm and runs them; while the
// tower is away nothing is changed, so the site runs its last desired
// state. The tower's state is the whole truth: an app the workload
// service runs that the tower does not list is deleted.

// desiredTimeout bounds one long-poll: the tower holds it up to 30 s.
const desiredTimeout = 45 * time.Second

// workloadTimeout bounds one call to the workload service; a PUT may pull
// an image first.
const workloadTimeout = 10 * time.Minute

// WithWorkloadSocket sets the workload service's socket (default
// contract.WorkloadSocket); "" turns desired state and app statuses off.
func WithWorkloadSocket(path string) Option { return func(a *Agent) { a.workloadSocket = path } }

// workloadClient speaks to the workload service's local API.
type workloadClient struct{ hc *http.Client }

func newWorkloadClient(socket string) *workloadClient {
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", socket)
	}}
	return &workloadClient{hc: &http.Client{Transport: tr, Timeout: workloadTimeout}}
}

func (w *workloadClient) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		data, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://workload"+path, body)
	if err != nil {
		return err
	}
	resp, err := w.hc.Do(req)
	if err != nil {
		return fmt.Errorf("workload service: %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("workload service: %s %s: %w", method, path, httpjson.ReadError(resp))
	}
	if out == nil {
		return nil
	}
	return json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(out)
}

// apps lists the apps the workload service keeps, with their status.
func (w *workloadClient) apps(ctx context.Context) ([]workloadapi.App, error) {
	var out []workloadapi.App
	err := w.do(ctx, http.MethodGet, "/v1/apps", nil, &out)
	return out, err
}

func appPath(tenant, name string) string {
	return "/v1/apps/" + url.PathEscape(tenant) + "/" + url.PathEscape(name)
}

// apply makes the workload service's apps those of d: it puts each app
// whose spec differs from the one kept and deletes those d does not list.
// It returns how many apps it put and deleted.
func (w *workloadClient) apply(ctx context.Context, d enrollapi.Desired) (put, deleted int, err error) {
	have, err := w.apps(ctx)
	if err != nil {
		return 0, 0, err
	}
	kept := map[string]*workloadapi.AppSpec{}
	for _, a := range have {
		if a.Spec != nil {
			kept[a.Spec.Tenant+"/"+a.Spec.Name] = a.Spec
		}
	}
	want := map[string]bool{}
	var errs []error
	for _, s := range d.Apps {
		k := s.Tenant + "/" + s.Name
		want[k] = true
		spec := *s
		if err := spec.Check(); err != nil {
			errs = append(errs, fmt.Errorf("app %s from the tower: %w", k, err))
			continue
		}
		spec.Normalize()
		if old := kept[k]; old != nil && reflect.DeepEqual(old, &spec) {
			continue
		}
		if err := w.do(ctx, http.MethodPut, appPath(s.Tenant, s.Name), &spec, nil); err != nil {
			errs = append(errs, err)
			continue
		}
		put++
	}
	for k, s := range kept {
		if want[k] {
			continue
		}
		if err := w.do(ctx, http.MethodDelete, appPath(s.Tenant, s.Name), nil, nil); err != nil {
			errs = append(errs, err)
			continue
		}
		deleted++
	}
	return put, deleted, errors.Join(errs...)
}

// appStatuses is each app's status for the status report, bounded to fit
// it; nil when there is no workload service.
func (a *Agent) appStatuses(ctx context.Context) []workloadapi.Status {
	if a.workloadSocket == "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	apps, err := newWorkloadClient(a.workloadSocket).apps(ctx)
	if err != nil {
		a.log.Debug(fmt.Sprintf("no app statuses for the report: %v", err))
		return nil
	}
	out := make([]workloadapi.Status, 0, min(len(apps), enrollapi.MaxReportApps))
	for _, app := range apps[:min(len(apps), enrollapi.MaxReportApps)] {
		s := app.Status
		if app.Spec != nil {
			s.Tenant, s.Name = app.Spec.Tenant, app.Spec.Name
			s.AppVersion = workloadapi.AppVersionOf(app.Spec)
		}
		s.LastExit, s.Error, s.HealthError = clip(s.LastExit), clip(s.Error), clip(s.HealthError)
		out = append(out, s)
	}
	return out
}

// clip shortens s to MaxReportText bytes and makes control characters
// spaces: the tower refuses a report with either, and one bad message
// must not cost the site its reports.
func clip(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, "?"))
	if len(s) > enrollapi.MaxReportText {
		s = strings.ToValidUTF8(s[:enrollapi.MaxReportText], "") // drops a cut rune
	}
	return s
}

// followDesired long-polls the tower for the site's desired state and
// applies each new revision, until ctx ends. client gives the current
// tower client (it changes when the certificate is renewed).
//
// Each poll waits on the revision of the last answer, applied or not, so
// news at the tower (an app version, a secret, the vault key it learnt)
// wakes it at once, also while an apply that failed waits for its retry:
// a workload service that is not up yet (containerd starts slowly) must
// not hold the secrets back for the minutes its backoff reaches. The
// retry of a failed apply keeps its backoff; a new revision is applied
// at once.
func (a *Agent) followDesired(ctx context.Context, client func() *towerClient, site string) {
	wc := newWorkloadClient(a.workloadSocket)
	var n, vn narrator
	var seen, applied string
	var failed *enrollapi.Desired // the answer whose apply failed
	var due time.Time             // when failed is applied again
	towerFailures, applyFailures := 0, 0
	for ctx.Err() == nil {
		d, err := pollDesired(ctx, client(), seen, failed, due)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			n.say(a.log, "error", fmt.Sprintf("desired state: %v; the site keeps running what it has", err))
			towerFailures++
			if sleep(ctx, backoff(a.desiredRetry(), a.maxBackoff, towerFailures-1)) != nil {
				return
			}
			continue
		}
		towerFailures, seen = 0, d.Revision
		// Secrets first, so an app that uses one finds its file; a vault
		// that cannot take them does not hold the apps back (the next
		// answer, within 30 s, hands them again).
		a.handSecrets(ctx, site, d, &vn)
		if failed != nil && d.Revision == failed.Revision && time.Now().Before(due) {
			continue // the tower's unchanged answer; the retry is not due
		}
		// Every answer is applied, a timed-out poll's unchanged one too:
		// the apply only changes what differs, and so puts back an app
		// someone removed on the box.
		// The tenants' quotas before the apps, so an app starts within
		// its tenant's new quota.
		var put, deleted int
		err = wc.putQuotas(ctx, d)
		if err != nil {
			err = fmt.Errorf("tenant quotas: %w", err)
		} else {
			put, deleted, err = wc.apply(ctx, d)
		}
		if err == nil {
			if d.Revision != applied || put+deleted > 0 {
				a.log.Info(fmt.Sprintf("desired state %s applied: %d apps, %d put, %d deleted", d.Revision, len(d.Apps), put, deleted))
			}
			applied, failed, applyFailures, n = d.Revision, nil, 0, narrator{}
			continue
		}
		if ctx.Err() != nil {
			return
		}
		n.say(a.log, "error", fmt.Sprintf("desired state: applying desired state %s: %v; the site keeps running what it has", d.Revision, err))
		applyFailures++
		failed, due = &d, time.Now().Add(backoff(a.desiredRetry(), a.maxBackoff, applyFailures-1))
	}
}

// pollDesired asks for the desired state, waiting on have. With failed
// set, a poll still held at due ends and failed is the answer, to be
// applied again.
func pollDesired(ctx context.Context, c *towerClient, have string, failed *enrollapi.Desired, due time.Time) (enrollapi.Desired, error) {
	if failed == nil {
		return c.desired(ctx, have)
	}
	pctx, cancel := context.WithDeadline(ctx, due)
	defer cancel()
	d, err := c.desired(pctx, have)
	if err != nil && ctx.Err() == nil && pctx.Err() != nil {
		return *failed, nil
	}
	return d, err
}

func (a *Agent) desiredRetry() time.Duration {
	if a.retry > 0 {
		return a.retry
	}
	return DefaultRetry
}

// desired GETs the site's desired state; with have set, the tower holds
// the request until the state differs from it.
func (c *towerClient) desired(ctx context.Context, have string) (enrollapi.Desired, error) {
	var d enrollapi.Desired
	path := enrollapi.PathDesired
	if have != "" {
		path += "?wait=" + url.QueryEscape(have)
	}
	ctx, cancel := context.WithTimeout(ctx, desiredTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return d, err
	}
	hc := *c.hc
	hc.Timeout = 0 // the context bounds the long poll
	resp, err := hc.Do(req)
	if err != nil {
		return d, fmt.Errorf("get %s: %w", enrollapi.PathDesired, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return d, fmt.Errorf("get %s: %w (HTTP %d): %w", enrollapi.PathDesired, ErrTower, resp.StatusCode, httpjson.ReadError(resp))
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 16<<20)).Decode(&d); err != nil {
		return d, fmt.Errorf("decode desired state: %w", err)
	}
	return d, nil
}

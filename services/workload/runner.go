package workload

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/namespaces"

	"github.com/skerry/skerry/services/api/workloadapi"
)

// Labels the runner puts on every container it creates; it manages only
// containers that carry them.
const (
	LabelApp  = "skerry.app"       // the app's name
	LabelSpec = "skerry.spec.hash" // sha256 of the spec the container was made from
)

// Errors of the runner.
var (
	// ErrNotFound is returned for an app the runner does not run.
	ErrNotFound = errors.New("app not found")
)

// App states and status, as the API reports them (workloadapi).
const (
	StatePulling  = workloadapi.StatePulling
	StateStarting = workloadapi.StateStarting
	StateRunning  = workloadapi.StateRunning
	StateBackoff  = workloadapi.StateBackoff
	StateExited   = workloadapi.StateExited
	StateFailed   = workloadapi.StateFailed
)

// Status is one app as the runner sees it.
type Status = workloadapi.Status

// Runner runs apps in containerd.
type Runner struct {
	client *containerd.Client
	o      options

	mu   sync.Mutex
	apps map[string]*app // by tenant/name

	imageMu sync.RWMutex // readers: apps between image and container; writer: gcImages
}

// New returns a runner over an open containerd client.
func New(client *containerd.Client, opts ...Option) *Runner {
	o := defaults()
	for _, f := range opts {
		f(&o)
	}
	return &Runner{client: client, o: o, apps: map[string]*app{}}
}

func key(tenant, name string) string { return tenant + "/" + name }

// Apply makes the runner run spec: a new app is created and started; an
// app whose spec changed is replaced (stopped, then created anew); an
// unchanged one is left alone. It returns once the app's supervisor has
// taken it; Status tells how it goes.
func (r *Runner) Apply(ctx context.Context, spec *workloadapi.AppSpec) error {
	if err := spec.Check(); err != nil {
		return err
	}
	h := specHash(spec)
	k := key(spec.Tenant, spec.Name)
	r.mu.Lock()
	old := r.apps[k]
	if old != nil && old.hash == h {
		r.mu.Unlock()
		return nil
	}
	others := make([]*workloadapi.AppSpec, 0, len(r.apps))
	for _, a := range r.apps {
		others = append(others, a.spec)
	}
	if err := r.checkPorts(spec, others); err != nil {
		r.mu.Unlock()
		return err
	}
	a := newApp(r, spec, h)
	r.apps[k] = a
	r.mu.Unlock()
	if old != nil {
		old.stop()
		if len(spec.Secrets) == 0 {
			r.forgetSecretFiles(old.spec)
		}
		if old.spec.Image != spec.Image {
			r.gcImages(ctx, spec.Tenant)
		}
	}
	go a.run(context.WithoutCancel(ctx))
	return nil
}

// Remove stops an app and deletes its container; its volumes stay.
func (r *Runner) Remove(ctx context.Context, tenant, name string) error {
	r.mu.Lock()
	a := r.apps[key(tenant, name)]
	delete(r.apps, key(tenant, name))
	r.mu.Unlock()
	if a == nil {
		return fmt.Errorf("%w: %s/%s", ErrNotFound, tenant, name)
	}
	a.stop()
	r.forgetSecretFiles(a.spec)
	r.gcImages(ctx, tenant)
	return nil
}

// Status returns every app's status, sorted by tenant and name.
func (r *Runner) Status() []Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Status, 0, len(r.apps))
	for _, a := range r.apps {
		out = append(out, a.status())
	}
	sort.Slice(out, func(i, j int) bool { return key(out[i].Tenant, out[i].Name) < key(out[j].Tenant, out[j].Name) })
	return out
}

// Close stops supervising. Containers keep running: a runner started
// later reattaches to them: Apply of the same spec takes over the
// running task instead of starting another.
func (r *Runner) Close() {
	r.mu.Lock()
	apps := r.apps
	r.apps = map[string]*app{}
	r.mu.Unlock()
	for _, a := range apps {
		a.detach()
	}
}

func (r *Runner) log() *slog.Logger { return r.o.log }

// nsCtx is ctx in the tenant's containerd namespace.
func nsCtx(ctx context.Context, tenant string) context.Context {
	return namespaces.WithNamespace(ctx, tenant)
}

package tower_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/skerry/skerry/services/api/enrollapi"
	"github.com/skerry/skerry/services/api/towerapi"
	"github.com/skerry/skerry/services/tower"
	"github.com/skerry/skerry/services/tower/towertest"
)

// fleet is a tenant "acme" with app "web" versions 1 and 2, n simulated
// sites, and version 1 deployed to all of them at once.
type fleet struct {
	tw    *towertest.Tower
	op    *towerapi.Client
	sites map[string]*towertest.SimSite // by site ID
}

func newFleet(t *testing.T, tw *towertest.Tower, n int, bad func(int) bool) *fleet {
	t.Helper()
	f := &fleet{tw: tw, op: tw.Client(t, ""), sites: map[string]*towertest.SimSite{}}
	mustTenant(t, f.op, "acme", true)
	for v := 1; v <= 2; v++ {
		f.put(t, "/v1/tenants/acme/apps/web", specJSON("acme", "web", fmt.Sprint(v)))
	}
	tok := mustToken(t, f.op, towerapi.EnrollTokenCreate{Tenant: "acme", Labels: map[string]string{"region": "north"}, MaxUses: n})
	for range n {
		s, err := towertest.EnrollSim(context.Background(), tw.URL, tw.CAPEM, tok.Token)
		if err != nil {
			t.Fatal(err)
		}
		s.Bad = bad
		s.Start()
		t.Cleanup(s.Stop)
		f.sites[s.ID] = s
	}
	f.put(t, "/v1/tenants/acme/deployments/web", towerapi.DeploymentSet{Version: 1})
	for _, ss := range f.sites {
		f.waitFor(t, "every site on v1", func(towerapi.Deployment) bool { return runs(ss, 1) })
	}
	return f
}

func runs(ss *towertest.SimSite, v int) bool { return ss.Runs("web", v) }

func (f *fleet) put(t *testing.T, path string, in any) {
	t.Helper()
	if err := f.op.Do(context.Background(), "PUT", path, in, nil); err != nil {
		t.Fatalf("PUT %s: %v", path, err)
	}
}

func (f *fleet) deployment(t *testing.T) towerapi.Deployment {
	t.Helper()
	var d towerapi.Deployment
	if err := f.op.Do(context.Background(), "GET", "/v1/tenants/acme/deployments/web", nil, &d); err != nil {
		t.Fatal(err)
	}
	return d
}

// waitFor polls the deployment until ok says so, for at most 30 s.
func (f *fleet) waitFor(t *testing.T, what string, ok func(towerapi.Deployment) bool) towerapi.Deployment {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		d := f.deployment(t)
		if ok(d) {
			return d
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: the deployment is %s", what, rolloutText(d))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func rolloutText(d towerapi.Deployment) string {
	if d.Rollout == nil {
		return fmt.Sprintf("version %d, no rollout", d.Version)
	}
	r := d.Rollout
	var b strings.Builder
	fmt.Fprintf(&b, "version %d %s (%s) at step %d, %d failed;", d.Version, r.State, r.Reason, r.Step, r.Failed)
	for _, s := range r.Sites {
		fmt.Fprintf(&b, " %s[step %d %s v%d %s]", s.Name, s.Step, s.State, s.Version, s.Reason)
	}
	return b.String()
}

func inState(state string) func(towerapi.Deployment) bool {
	return func(d towerapi.Deployment) bool { return d.Rollout != nil && d.Rollout.State == state }
}

// A rollout reaches the canary first, waits until it has been healthy
// for the canary period, then the batches one after the other; a site
// that goes silent before its batch is skipped after the site timeout,
// not counted as failed.
func TestRolloutCanaryThenBatches(t *testing.T) {
	tw := towertest.Start(t, tower.WithReportInterval(time.Second))
	f := newFleet(t, tw, 5, nil)
	st := &towerapi.Strategy{Canary: 1, CanaryHealthySeconds: 2, BatchSize: 2, SiteTimeoutSeconds: 5}
	f.put(t, "/v1/tenants/acme/deployments/web", towerapi.DeploymentSet{Version: 2, Strategy: st})

	d := f.deployment(t)
	r := d.Rollout
	if r == nil || r.State != towerapi.RolloutProgressing || len(r.Steps) != 3 || r.Previous != 1 {
		t.Fatalf("rollout after PUT: %s; want progressing in 3 steps from version 1", rolloutText(d))
	}
	for i, want := range []struct {
		name  string
		sites int
	}{{"canary", 1}, {"batch 1", 2}, {"batch 2", 2}} {
		if got := r.Steps[i]; got.Name != want.name || got.Sites != want.sites {
			t.Errorf("step %d: got %s of %d sites, want %s of %d", i, got.Name, got.Sites, want.name, want.sites)
		}
	}
	step := map[string]int{}
	var last *towertest.SimSite
	for _, s := range r.Sites {
		step[s.Site] = s.Step
		if s.Step == 2 {
			last = f.sites[s.Site]
		}
	}
	last.Stop() // offline before its batch: skipped after the timeout
	canary := f.waitFor(t, "the canary healthy", func(d towerapi.Deployment) bool { return !d.Rollout.Steps[0].HealthySince.IsZero() })
	// During the canary's healthy period, only the canary runs v2.
	for id, ss := range f.sites {
		if want := map[bool]int{true: 2, false: 1}[step[id] == 0]; !runs(ss, want) && ss != last {
			t.Errorf("site %s (step %d) during the canary period: versions %v, want %d last", id, step[id], ss.Versions("web"), want)
		}
	}
	if canary.Rollout.Step != 0 {
		t.Errorf("the batches began before the canary period: %s", rolloutText(canary))
	}

	d = f.waitFor(t, "the rollout to complete", inState(towerapi.RolloutCompleted))
	r = d.Rollout
	if held := r.Steps[0].DoneAt.Sub(r.Steps[0].HealthySince); held < 2*time.Second {
		t.Errorf("the canary step ended %s after it was healthy, want at least 2s", held)
	}
	for i := 1; i < len(r.Steps); i++ {
		if r.Steps[i].StartedAt.Before(r.Steps[i-1].DoneAt) {
			t.Errorf("step %d started %s, before step %d was done at %s", i, r.Steps[i].StartedAt, i-1, r.Steps[i-1].DoneAt)
		}
	}
	for _, s := range r.Sites {
		want := towerapi.RolloutHealthy
		if f.sites[s.Site] == last {
			want = towerapi.RolloutSkipped
		}
		if s.State != want || s.Version != 2 {
			t.Errorf("site %s: %s on v%d (%s), want %s on v2", s.Name, s.State, s.Version, s.Reason, want)
		}
		if ss := f.sites[s.Site]; ss != last && !runs(ss, 2) {
			t.Errorf("site %s runs %v, want 2 last", s.Name, ss.Versions("web"))
		}
	}
	if r.Failed != 0 {
		t.Errorf("%d failed, want 0 (an offline site is skipped): %s", r.Failed, rolloutText(d))
	}
}

// A canary unhealthy on the new version rolls the rollout back: every
// site runs the previous version, and no site beyond the canary ever
// received the new one.
func TestRolloutFailingCanaryRollsBack(t *testing.T) {
	tw := towertest.Start(t, tower.WithReportInterval(time.Second))
	f := newFleet(t, tw, 4, func(v int) bool { return v == 2 })
	st := &towerapi.Strategy{Canary: 1, CanaryHealthySeconds: 1, BatchSize: 2}
	f.put(t, "/v1/tenants/acme/deployments/web", towerapi.DeploymentSet{Version: 2, Strategy: st})
	d := f.waitFor(t, "the rollback", inState(towerapi.RolloutRolledBack))
	if !strings.Contains(d.Rollout.Reason, "unhealthy") || d.Rollout.Failed != 1 {
		t.Errorf("rolled back with reason %q, %d failed; want the canary's unhealthy check, 1 failed", d.Rollout.Reason, d.Rollout.Failed)
	}
	for _, s := range d.Rollout.Sites {
		ss := f.sites[s.Site]
		f.waitFor(t, "site "+s.Name+" back on v1", func(towerapi.Deployment) bool { return runs(ss, 1) })
		want := []int{1}
		if s.Step == 0 {
			want = []int{1, 2, 1}
		}
		if got := ss.Versions("web"); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("site %s (step %d) ran %v, want %v", s.Name, s.Step, got, want)
		}
		if s.Version != 1 {
			t.Errorf("site %s should run v%d, want 1", s.Name, s.Version)
		}
	}
}

// Pause holds a rollout where it is, resume carries on, and a rollback
// by hand (here of a completed rollout) puts every site back on the
// previous version; each within the tenant boundaries of the README.
func TestRolloutPauseResumeRollback(t *testing.T) {
	tw := towertest.Start(t, tower.WithReportInterval(time.Second))
	f := newFleet(t, tw, 3, nil)
	ctx := context.Background()
	mustTenant(t, f.op, "other", false)
	otherAdmin := tw.Client(t, newToken(t, f.op, "tenant-admin", "other"))
	reader := tw.Client(t, newToken(t, f.op, "tenant-reader", "acme"))
	admin := tw.Client(t, newToken(t, f.op, "tenant-admin", "acme"))
	act := func(c *towerapi.Client, action string) error {
		return c.Do(ctx, "POST", "/v1/tenants/acme/deployments/web/"+action, nil, nil)
	}

	wantRefused(t, tw, act(admin, "pause"), enrollapi.CodeConflict) // no strategy: nothing to pause
	st := &towerapi.Strategy{Canary: 1, CanaryHealthySeconds: 1, BatchSize: 1}
	f.put(t, "/v1/tenants/acme/deployments/web", towerapi.DeploymentSet{Version: 2, Strategy: st})
	wantRefused(t, tw, act(otherAdmin, "pause"), enrollapi.CodeNotFound)
	wantRefused(t, tw, act(reader, "pause"), enrollapi.CodeForbidden)
	wantRefused(t, tw, act(admin, "resume"), enrollapi.CodeConflict) // not paused
	if err := act(admin, "pause"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2500 * time.Millisecond) // past the canary period
	d := f.deployment(t)
	if d.Rollout.State != towerapi.RolloutPaused || d.Rollout.Step != 0 || !strings.Contains(d.Rollout.Reason, "paused by") {
		t.Fatalf("paused rollout moved on: %s", rolloutText(d))
	}
	if err := act(admin, "resume"); err != nil {
		t.Fatal(err)
	}
	f.waitFor(t, "the rollout to complete", inState(towerapi.RolloutCompleted))
	for _, ss := range f.sites {
		f.waitFor(t, "every site on v2", func(towerapi.Deployment) bool { return runs(ss, 2) })
	}
	wantRefused(t, tw, act(otherAdmin, "rollback"), enrollapi.CodeNotFound)
	if err := act(admin, "rollback"); err != nil {
		t.Fatal(err)
	}
	for _, ss := range f.sites {
		f.waitFor(t, "every site back on v1", func(towerapi.Deployment) bool { return runs(ss, 1) })
	}
	d = f.deployment(t)
	if d.Rollout.State != towerapi.RolloutRolledBack || !strings.Contains(d.Rollout.Reason, "rolled back by") {
		t.Errorf("after rollback: %s", rolloutText(d))
	}
	wantRefused(t, tw, act(admin, "rollback"), enrollapi.CodeConflict) // once is enough

	// A bad strategy is refused naming its field; nothing stored changes.
	err := admin.Do(ctx, "PUT", "/v1/tenants/acme/deployments/web", towerapi.DeploymentSet{Version: 2, Strategy: &towerapi.Strategy{OnFailure: "panic"}}, nil)
	wantRefused(t, tw, err, enrollapi.CodeBadRequest)
	if err == nil || !strings.Contains(err.Error(), "strategy.onFailure") {
		t.Errorf("refusal %v does not name strategy.onFailure", err)
	}
	if got := f.deployment(t); got.Rollout.State != towerapi.RolloutRolledBack {
		t.Errorf("a refused PUT changed the deployment: %s", rolloutText(got))
	}
}

// restartable is a tower whose data directory and address outlive it.
type restartable struct {
	dir, addr string
	stop      func()
}

func (rt *restartable) start(t *testing.T) *towertest.Tower {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	o, err := tower.Open(ctx, rt.dir, tower.WithReportInterval(time.Second), tower.WithLogger(slog.New(slog.DiscardHandler)))
	if err != nil {
		t.Fatal(err)
	}
	var ln net.Listener
	for range 100 { // the old listener's port may linger a moment
		if ln, err = net.Listen("tcp", rt.addr); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	rt.addr = ln.Addr().String()
	done := make(chan error, 1)
	go func() { done <- o.Serve(ctx, ln, []string{"127.0.0.1"}) }()
	rt.stop = func() { cancel(); <-done; o.Close() }
	tok, err := tower.ReadToken(o.TokenFile)
	if err != nil {
		t.Fatal(err)
	}
	return &towertest.Tower{Opened: o, URL: "https://" + rt.addr, CAPEM: o.CA().CertPEM(), Token: tok, Log: &towertest.LogBuffer{}}
}

// A tower restarted in the middle of a rollout carries on from the
// stored state: the same plan, no step again, and it completes.
func TestRolloutSurvivesTowerRestart(t *testing.T) {
	rt := &restartable{dir: t.TempDir(), addr: "127.0.0.1:0"}
	tw := rt.start(t)
	t.Cleanup(func() { rt.stop() })
	f := newFleet(t, tw, 4, nil)
	st := &towerapi.Strategy{Canary: 1, CanaryHealthySeconds: 1, BatchSize: 1, BatchHealthySeconds: 1}
	f.put(t, "/v1/tenants/acme/deployments/web", towerapi.DeploymentSet{Version: 2, Strategy: st})
	before := f.waitFor(t, "batch 1", func(d towerapi.Deployment) bool { return d.Rollout.Step == 1 })
	rt.stop()
	time.Sleep(500 * time.Millisecond)
	tw2 := rt.start(t)
	f.op = tw2.Client(t, "")
	after := f.waitFor(t, "the rollout to complete after the restart", inState(towerapi.RolloutCompleted))
	for i, s := range before.Rollout.Sites {
		if a := after.Rollout.Sites[i]; a.Site != s.Site || a.Step != s.Step {
			t.Errorf("plan changed across the restart: site %d was %s in step %d, is %s in step %d", i, s.Site, s.Step, a.Site, a.Step)
		}
	}
	if got, want := after.Rollout.Steps[0].StartedAt, before.Rollout.Steps[0].StartedAt; !got.Equal(want) {
		t.Errorf("the canary step started again at %s (first at %s)", got, want)
	}
	for _, ss := range f.sites {
		f.waitFor(t, "every site on v2", func(towerapi.Deployment) bool { return runs(ss, 2) })
		if vs := ss.Versions("web"); fmt.Sprint(vs) != "[1 2]" {
			t.Errorf("site ran %v, want [1 2]", vs)
		}
	}
}

package tower_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/skerry/skerry/services/api/enrollapi"
	"github.com/skerry/skerry/services/api/towerapi"
	"github.com/skerry/skerry/services/api/workloadapi"
	"github.com/skerry/skerry/services/tower/towertest"
)

// specJSON is a valid app spec; env tells versions apart.
func specJSON(tenant, name, env string) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"version": 1, "tenant": %q, "name": %q, "image": {"ref": "registry.example/%s/%s:1"}, "env": {"V": %q}}`, tenant, name, tenant, name, env))
}

// Apps are stored versioned, within the tenant boundaries of README.md's
// table, and a bad spec is refused naming its field.
func TestAppsAndDeployments(t *testing.T) {
	tw := towertest.Start(t)
	op := tw.Client(t, "")
	ctx := context.Background()
	mustTenant(t, op, "acme", false)
	mustTenant(t, op, "other", false)
	admin := tw.Client(t, newToken(t, op, "tenant-admin", "acme"))
	reader := tw.Client(t, newToken(t, op, "tenant-reader", "acme"))
	otherAdmin := tw.Client(t, newToken(t, op, "tenant-admin", "other"))

	tests := []struct {
		name         string
		c            *towerapi.Client
		method, path string
		body         any
		code         string // "" for success
		msg          string // in the refusal's message
		version      int    // of the app answered
	}{
		{"admin stores v1", admin, "PUT", "/v1/tenants/acme/apps/web", specJSON("acme", "web", "1"), "", "", 1},
		{"operator stores v2", op, "PUT", "/v1/tenants/acme/apps/web", specJSON("acme", "web", "2"), "", "", 2},
		{"spec of another tenant", admin, "PUT", "/v1/tenants/acme/apps/web", specJSON("other", "web", "x"), enrollapi.CodeBadRequest, "path names acme/web", 0},
		{"spec of another name", admin, "PUT", "/v1/tenants/acme/apps/web", specJSON("acme", "api", "x"), enrollapi.CodeBadRequest, "path names", 0},
		{"bad memory", admin, "PUT", "/v1/tenants/acme/apps/web", json.RawMessage(`{"version": 1, "tenant": "acme", "name": "web", "image": {"ref": "r/x:1"}, "resources": {"memory": "lots"}}`), enrollapi.CodeBadRequest, "resources.memory", 0},
		{"unknown field", admin, "PUT", "/v1/tenants/acme/apps/web", json.RawMessage(`{"version": 1, "tenant": "acme", "name": "web", "image": {"ref": "r/x:1"}, "imgae": 1}`), enrollapi.CodeBadRequest, "imgae", 0},
		{"reader may not store", reader, "PUT", "/v1/tenants/acme/apps/web", specJSON("acme", "web", "r"), enrollapi.CodeForbidden, "", 0},
		{"other tenant may not store", otherAdmin, "PUT", "/v1/tenants/acme/apps/web", specJSON("acme", "web", "o"), enrollapi.CodeNotFound, "", 0},
		{"other tenant may not read", otherAdmin, "GET", "/v1/tenants/acme/apps/web", nil, enrollapi.CodeNotFound, "", 0},
		{"no such tenant", op, "PUT", "/v1/tenants/nobody/apps/web", specJSON("nobody", "web", "1"), enrollapi.CodeNotFound, "nobody", 0},
		{"reader reads newest", reader, "GET", "/v1/tenants/acme/apps/web", nil, "", "", 2},
		{"reader reads v1", reader, "GET", "/v1/tenants/acme/apps/web?version=1", nil, "", "", 1},
		{"no v3", reader, "GET", "/v1/tenants/acme/apps/web?version=3", nil, enrollapi.CodeNotFound, "version 3", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got towerapi.App
			err := tc.c.Do(ctx, tc.method, tc.path, tc.body, &got)
			if tc.code != "" {
				wantRefused(t, tw, err, tc.code)
				if !strings.Contains(err.Error(), tc.msg) {
					t.Errorf("refusal %q does not mention %q", err, tc.msg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Version != tc.version || got.Spec == nil || got.Spec.Env["V"] != fmt.Sprint(tc.version) {
				t.Errorf("got version %d with spec %+v, want version %d", got.Version, got.Spec, tc.version)
			}
		})
	}

	deploys := []struct {
		name string
		c    *towerapi.Client
		app  string
		in   towerapi.DeploymentSet
		code string
	}{
		{"reader may not deploy", reader, "web", towerapi.DeploymentSet{Version: 1}, enrollapi.CodeForbidden},
		{"other tenant may not deploy", otherAdmin, "web", towerapi.DeploymentSet{Version: 1}, enrollapi.CodeNotFound},
		{"no such version", admin, "web", towerapi.DeploymentSet{Version: 3}, enrollapi.CodeNotFound},
		{"no such app", admin, "api", towerapi.DeploymentSet{Version: 1}, enrollapi.CodeNotFound},
		{"version 0", admin, "web", towerapi.DeploymentSet{}, enrollapi.CodeBadRequest},
		{"bad selector key", admin, "web", towerapi.DeploymentSet{Version: 1, Selector: map[string]string{"a b": "x"}}, enrollapi.CodeBadRequest},
		{"admin deploys", admin, "web", towerapi.DeploymentSet{Version: 1, Selector: map[string]string{"region": "north"}}, ""},
	}
	for _, tc := range deploys {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.c.Do(ctx, "PUT", "/v1/tenants/acme/deployments/"+tc.app, tc.in, nil)
			if tc.code != "" {
				wantRefused(t, tw, err, tc.code)
			} else if err != nil {
				t.Fatal(err)
			}
		})
	}
	var ds towerapi.List[towerapi.Deployment]
	if err := reader.Do(ctx, "GET", "/v1/tenants/acme/deployments", nil, &ds); err != nil {
		t.Fatal(err)
	}
	var gotDeps []string
	for _, d := range ds.Items {
		gotDeps = append(gotDeps, fmt.Sprintf("%s/%s@%d %v by %s", d.Tenant, d.App, d.Version, d.Selector, strings.SplitN(d.CreatedBy, ":", 2)[0]))
	}
	if diff := cmp.Diff([]string{"acme/web@1 map[region:north] by token"}, gotDeps); diff != "" {
		t.Errorf("deployments (-want +got):\n%s", diff)
	}

	err := admin.Do(ctx, "DELETE", "/v1/tenants/acme/apps/web", nil, nil)
	wantRefused(t, tw, err, enrollapi.CodeConflict)
	if err := admin.Do(ctx, "DELETE", "/v1/tenants/acme/deployments/web", nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := admin.Do(ctx, "DELETE", "/v1/tenants/acme/apps/web", nil, nil); err != nil {
		t.Fatal(err)
	}
	var apps towerapi.List[towerapi.App]
	if err := reader.Do(ctx, "GET", "/v1/tenants/acme/apps", nil, &apps); err != nil || len(apps.Items) != 0 {
		t.Errorf("apps after delete: %+v, %v; want none", apps.Items, err)
	}
}

func newToken(t *testing.T, op *towerapi.Client, role, tenant string) string {
	t.Helper()
	var out towerapi.OperatorTokenCreated
	if err := op.Do(context.Background(), "POST", "/v1/operator-tokens", towerapi.OperatorTokenCreate{Role: role, Tenant: tenant}, &out); err != nil {
		t.Fatalf("create %s token for %s: %v", role, tenant, err)
	}
	return out.Token
}

// site is an enrolled software site that talks to the tower over mTLS.
type site struct {
	id string
	hc *http.Client
	tw *towertest.Tower
}

func enrollSite(t *testing.T, tw *towertest.Tower, op *towerapi.Client, tenant string, labels map[string]string) *site {
	t.Helper()
	tok := mustToken(t, op, towerapi.EnrollTokenCreate{Tenant: tenant, Labels: labels})
	a := towertest.NewSoftwareAgent(t, tw.URL, tw.CAPEM)
	r, err := a.Enroll(context.Background(), tok.Token)
	res := mustRegistered(t, r, err)
	cert := tls.Certificate{Certificate: [][]byte{res.Certificate}, PrivateKey: a.Key}
	hc := &http.Client{Timeout: time.Minute, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: a.CAPool, Certificates: []tls.Certificate{cert}}}}
	t.Cleanup(hc.CloseIdleConnections)
	return &site{id: res.SiteID, hc: hc, tw: tw}
}

// desired GETs the site's desired state, waiting on wait if it is not "".
func (s *site) desired(t *testing.T, wait string) enrollapi.Desired {
	t.Helper()
	d, err := s.fetchDesired(wait)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func (s *site) fetchDesired(wait string) (enrollapi.Desired, error) {
	return s.fetchDesiredCtx(context.Background(), wait)
}

func (s *site) fetchDesiredCtx(ctx context.Context, wait string) (enrollapi.Desired, error) {
	return towertest.GetDesired(ctx, s.hc, s.tw.URL, wait)
}

func appNames(d enrollapi.Desired) []string {
	out := []string{}
	for _, a := range d.Apps {
		out = append(out, fmt.Sprintf("%s/%s:%s", a.Tenant, a.Name, a.Env["V"]))
	}
	return out
}

// A site's desired state holds the apps of its tenant whose deployment
// selects its labels, and a held long-poll answers within a second of a
// change.
func TestSiteDesiredState(t *testing.T) {
	tw := towertest.Start(t)
	op := tw.Client(t, "")
	ctx := context.Background()
	mustTenant(t, op, "acme", true)
	mustTenant(t, op, "other", true)
	north := enrollSite(t, tw, op, "acme", map[string]string{"region": "north", "tier": "edge"})
	south := enrollSite(t, tw, op, "acme", map[string]string{"region": "south"})
	otherSite := enrollSite(t, tw, op, "other", map[string]string{"region": "north"})

	put := func(path string, in any) {
		t.Helper()
		if err := op.Do(ctx, "PUT", path, in, nil); err != nil {
			t.Fatalf("PUT %s: %v", path, err)
		}
	}
	put("/v1/tenants/acme/apps/web", specJSON("acme", "web", "1"))
	put("/v1/tenants/acme/apps/web", specJSON("acme", "web", "2"))
	put("/v1/tenants/acme/apps/cache", specJSON("acme", "cache", "1"))
	put("/v1/tenants/other/apps/web", specJSON("other", "web", "1"))
	put("/v1/tenants/acme/deployments/web", towerapi.DeploymentSet{Version: 1, Selector: map[string]string{"region": "north"}})
	put("/v1/tenants/acme/deployments/cache", towerapi.DeploymentSet{Version: 1})
	put("/v1/tenants/other/deployments/web", towerapi.DeploymentSet{Version: 1, Selector: map[string]string{"region": "south"}})

	for _, tc := range []struct {
		name string
		s    *site
		want []string
	}{
		{"north gets both", north, []string{"acme/cache:1", "acme/web:1"}},
		{"south gets the all-sites app only", south, []string{"acme/cache:1"}},
		{"other tenant's north site gets none of acme's", otherSite, []string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, appNames(tc.s.desired(t, ""))); diff != "" {
				t.Errorf("desired apps (-want +got):\n%s", diff)
			}
		})
	}

	// Unchanged state answers the same revision; a held poll wakes on a
	// change.
	d0 := north.desired(t, "")
	if d1 := north.desired(t, ""); d1.Revision != d0.Revision || d0.Revision == "" {
		t.Fatalf("revision %q then %q: want the same, not empty", d0.Revision, d1.Revision)
	}
	got := make(chan enrollapi.Desired, 1)
	start := time.Now()
	go func() {
		d, err := north.fetchDesired(d0.Revision)
		if err != nil {
			t.Error(err)
		}
		got <- d
	}()
	time.Sleep(300 * time.Millisecond) // the poll is held
	select {
	case d := <-got:
		t.Fatalf("long-poll answered %v before any change", appNames(d))
	default:
	}
	changed := time.Now()
	put("/v1/tenants/acme/deployments/web", towerapi.DeploymentSet{Version: 2, Selector: map[string]string{"region": "north"}})
	select {
	case d := <-got:
		if lag := time.Since(changed); lag > time.Second {
			t.Errorf("change reached the site %v after it was made; want under 1s", lag)
		}
		if diff := cmp.Diff([]string{"acme/cache:1", "acme/web:2"}, appNames(d)); diff != "" || d.Revision == d0.Revision {
			t.Errorf("after the change: revision %q (was %q), apps (-want +got):\n%s", d.Revision, d0.Revision, diff)
		}
		t.Logf("held %v, woke %v after the change", changed.Sub(start), time.Since(changed))
	case <-time.After(5 * time.Second):
		t.Fatal("long-poll did not answer within 5s of the change")
	}
	// A poll with an old revision answers at once.
	if d := south.desired(t, "stale"); len(d.Apps) != 1 {
		t.Errorf("stale revision: got %v", appNames(d))
	}
}

// A status report's app statuses show in the site view; unsafe text in
// them is refused.
func TestSiteAppStatus(t *testing.T) {
	tw := towertest.Start(t)
	op := tw.Client(t, "")
	mustTenant(t, op, "acme", true)
	s := enrollSite(t, tw, op, "acme", nil)
	ctx := context.Background()
	apps := []workloadapi.Status{{Tenant: "acme", Name: "web", State: workloadapi.StateRunning, PID: 42, Restarts: 1, Health: workloadapi.HealthHealthy}}
	if _, err := towertest.Post(ctx, s.hc, tw.URL+enrollapi.PathStatus, enrollapi.StatusReport{Apps: apps}, nil); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(apps, mustSite(t, op, s.id).Apps); diff != "" {
		t.Errorf("site view apps (-want +got):\n%s", diff)
	}
	bad := []workloadapi.Status{{Tenant: "acme", Name: "web", Error: "\x1b[31mred"}}
	_, err := towertest.Post(ctx, s.hc, tw.URL+enrollapi.PathStatus, enrollapi.StatusReport{Apps: bad}, nil)
	wantRefused(t, tw, err, enrollapi.CodeBadRequest)
	if !strings.Contains(err.Error(), "apps[0].error") {
		t.Errorf("refusal %q does not name apps[0].error", err)
	}
	if diff := cmp.Diff(apps, mustSite(t, op, s.id).Apps); diff != "" {
		t.Errorf("a refused report changed the site (-want +got):\n%s", diff)
	}
}

// A site may hold only a few long-polls at once; more are refused busy,
// and the held ones all wake at a change.
func TestSiteDesiredHeldBounded(t *testing.T) {
	tw := towertest.Start(t)
	op := tw.Client(t, "")
	mustTenant(t, op, "acme", true)
	s := enrollSite(t, tw, op, "acme", nil)
	rev := s.desired(t, "").Revision
	const held = 4 // the tower's per-site bound
	done := make(chan error, held)
	for range held {
		go func() { _, err := s.fetchDesired(rev); done <- err }()
	}
	time.Sleep(500 * time.Millisecond) // all four are held by now
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := s.fetchDesiredCtx(ctx, rev)
	if err == nil || !strings.Contains(err.Error(), "503") || !strings.Contains(err.Error(), "busy") {
		t.Fatalf("poll beyond %d held ones: got %v, want 503 busy", held, err)
	}
	if err := op.Do(context.Background(), "PUT", "/v1/tenants/acme/apps/web", specJSON("acme", "web", "1"), nil); err != nil {
		t.Fatal(err)
	}
	if err := op.Do(context.Background(), "PUT", "/v1/tenants/acme/deployments/web", towerapi.DeploymentSet{Version: 1}, nil); err != nil {
		t.Fatal(err)
	}
	for range held {
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("held poll: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("a held poll did not wake at the change")
		}
	}
}

package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/skerry/skerry/qemu/ocitest"
	"github.com/skerry/skerry/services/api/towerapi"
	"github.com/skerry/skerry/services/api/workloadapi"
	"github.com/skerry/skerry/services/workload"
	"github.com/skerry/skerry/services/workload/workloadtest"
)

// site is a site's workload side: a real workload service (State and
// Handler over a Runner on a real containerd) on a unix socket.
type siteWorkload struct {
	socket  string
	state   *workload.State
	archive string
}

func startWorkload(t *testing.T) *siteWorkload {
	t.Helper()
	c := workloadtest.Containerd(t)
	src, err := os.ReadFile("../workload/testdata/probe.go.txt")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	archive := filepath.Join(dir, "probe.tar")
	if err := ocitest.Build(ocitest.Image{Name: "skerry.test/probe:1", Arch: runtime.GOARCH, Source: string(src)}, archive); err != nil {
		t.Fatal(err)
	}
	r := workload.New(c, workload.WithSnapshotter("native"), workload.WithVolumeRoot(filepath.Join(dir, "volumes")),
		workload.WithLogRoot(filepath.Join(dir, "logs")), workload.WithStopGrace(2*time.Second),
		workload.WithCgroupRoot(fmt.Sprintf("/skerry-test-%d", time.Now().UnixNano())))
	t.Cleanup(func() {
		for _, st := range r.Status() {
			r.Remove(context.Background(), st.Tenant, st.Name)
		}
	})
	st, err := workload.OpenState(filepath.Join(dir, "desired.json"), r)
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "workload.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: workload.Handler(st)}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return &siteWorkload{socket: sock, state: st, archive: archive}
}

// envOf is what the site's workload service keeps for each app: name=V.
func (w *siteWorkload) envOf() map[string]string {
	out := map[string]string{}
	for _, a := range w.state.Apps() {
		out[a.Tenant+"/"+a.Name] = a.Env["V"]
	}
	return out
}

func (w *siteWorkload) spec(name, v string) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"version": 1, "tenant": "acme", "name": %q, "image": {"archive": %q},
		"env": {"V": %q, "RUN": %q, "SLEEP": "1h"}, "readOnlyRoot": true, "restart": {"policy": "on-failure"}}`, name, w.archive, v, name))
}

// TestDesiredState runs the agent against the real tower and a real
// workload service: an app deployed to the site's labels runs there and
// its status reaches the site view; a new version reaches the site within
// a second of the deployment; an app deployed elsewhere never comes; while
// the tower is away the site keeps running its app, and a deployment
// ended meanwhile stops it once the tower is back.
func TestDesiredState(t *testing.T) {
	wl := startWorkload(t)
	tw := startRealTower(t)
	var tok towerapi.EnrollTokenCreated
	tw.do(t, "POST", "/v1/enrollment-tokens", towerapi.EnrollTokenCreate{Tenant: "acme", Labels: map[string]string{"region": "north"}}, &tok)
	tw.do(t, "PUT", "/v1/tenants/acme/apps/web", wl.spec("web", "1"), nil)
	tw.do(t, "PUT", "/v1/tenants/acme/apps/web", wl.spec("web", "2"), nil)
	tw.do(t, "PUT", "/v1/tenants/acme/apps/far", wl.spec("far", "1"), nil)
	tw.do(t, "PUT", "/v1/tenants/acme/deployments/web", towerapi.DeploymentSet{Version: 1, Selector: map[string]string{"region": "north"}}, nil)
	tw.do(t, "PUT", "/v1/tenants/acme/deployments/far", towerapi.DeploymentSet{Version: 1, Selector: map[string]string{"region": "south"}}, nil)

	px := startProxy(t, strings.TrimPrefix(tw.url, "https://"))
	cfg := tw.config(tok.Token)
	cfg.URL = "https://" + px.addr
	a := startAgent(t, cfg, WithHome(t.TempDir()), WithTPM(filepath.Join(t.TempDir(), "no-tpm")),
		WithSoftwareIdentity(true), WithWorkloadSocket(wl.socket))
	site := tw.onlineSite(t, a)
	waitLong(t, a, "web v1 runs on the site and the tower shows it", func() bool {
		s := tw.site(t, site.ID)
		return len(s.Apps) == 1 && s.Apps[0].Name == "web" && s.Apps[0].State == workloadapi.StateRunning
	})
	if got := wl.envOf(); len(got) != 1 || got["acme/web"] != "1" {
		t.Fatalf("site's apps: got %v, want only acme/web version 1", got)
	}

	changed := time.Now()
	tw.do(t, "PUT", "/v1/tenants/acme/deployments/web", towerapi.DeploymentSet{Version: 2, Selector: map[string]string{"region": "north"}}, nil)
	a.wait(t, "web v2 reaches the site", func() bool { return wl.envOf()["acme/web"] == "2" })
	lag := time.Since(changed)
	t.Logf("deployment to the site's desired state: %v", lag)
	if lag > time.Second {
		t.Errorf("a new version took %v to reach an online site; want under 1s", lag)
	}

	// A tenant quota the operator sets at the tower reaches the site's
	// workload service with the desired state.
	q := workloadapi.Resources{Memory: "512Mi", Pids: 300}
	tw.do(t, "PATCH", "/v1/tenants/acme", towerapi.TenantUpdate{Quota: &q}, nil)
	a.wait(t, "acme's quota from the tower reaches the workload service", func() bool {
		got, ok := wl.state.Quota("acme")
		return ok && got == q
	})

	// The tower goes away: the site keeps running what it has. The
	// deployment ends meanwhile; the site learns it when the tower is back.
	px.down()
	a.wait(t, "the agent notices the tower is away", func() bool { return a.log.has("the site keeps running what it has") })
	tw.do(t, "DELETE", "/v1/tenants/acme/deployments/web", nil, nil)
	time.Sleep(500 * time.Millisecond)
	// v2 may still be starting (the replacement was just applied); what
	// matters is that it runs and stays while the tower is away.
	var apps []workloadapi.App
	var err error
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
		apps, err = newWorkloadClient(wl.socket).apps(context.Background())
		if err != nil || len(apps) != 1 || apps[0].Spec.Env["V"] != "2" {
			t.Fatalf("while the tower is away: apps %+v, %v; want web v2 kept", apps, err)
		}
		if apps[0].Status.State == workloadapi.StateRunning {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("while the tower is away: apps %+v; want web v2 running", apps)
		}
	}
	px.up(t)
	waitLong(t, a, "web leaves the site once the tower is back", func() bool { return len(wl.envOf()) == 0 })
	if !a.log.has("desired state") {
		t.Errorf("the agent logged nothing about desired state:\n%s", a.log)
	}
}

// proxy forwards TCP to the tower and can cut it, as a lost uplink does.
type proxy struct {
	addr, target string
	mu           sync.Mutex
	ln           net.Listener
	conns        map[net.Conn]bool
}

func startProxy(t *testing.T, target string) *proxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{addr: ln.Addr().String(), target: target, conns: map[net.Conn]bool{}}
	p.serve(ln)
	t.Cleanup(p.down)
	return p
}

func (p *proxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns[c], p.conns[up] = true, true
			p.mu.Unlock()
			go func() { io.Copy(up, c); up.Close() }()
			go func() { io.Copy(c, up); c.Close() }()
		}
	}()
}

// down closes the listener and every forwarded connection.
func (p *proxy) down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ln.Close()
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

// up listens again on the same address.
func (p *proxy) up(t *testing.T) {
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		t.Fatal(err)
	}
	p.serve(ln)
}

func (tw *realTower) site(t *testing.T, id string) towerapi.Site {
	t.Helper()
	var s towerapi.Site
	tw.do(t, "GET", "/v1/sites/"+id, nil, &s)
	return s
}

// waitLong waits for cond up to two minutes: an image import and a
// container start.
func waitLong(t *testing.T, a *running, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; agent log:\n%s", what, a.log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

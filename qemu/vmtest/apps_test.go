package vmtest

import (
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"

	"github.com/skerry/skerry/services/api/towerapi"
	"github.com/skerry/skerry/services/api/workloadapi"
)

// checkApps follows an app from the tower to box A and back, with the
// real agent and workload service: version 1 reaches the site at once
// and the tower shows its status; version 2 rolls out with a canary
// step, fails on the site and is rolled back to version 1 without a
// person; after box A's reboot (which testRegistration does later) the
// site converges to version 1 again, checked in a cleanup that runs
// before the VM is closed.
//
// The image is a reference on a real registry on host loopback
// (go-containerregistry's, over TLS), which the guest reaches at
// 10.0.2.2. The site image trusts no registry CA yet (the workload
// service verifies registries with the system roots, and the image has
// none), so the site refuses the registry's certificate and the app
// fails to pull: version 1 runs "failed" with that error, and version
// 2's failure is what the rollout sees. The check stands on the
// versions and states the site reports.
func checkApps(t *testing.T, tw *hostTower, siteID, arch string) {
	t.Helper()
	reg := httptest.NewUnstartedServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	reg.Config.ErrorLog = log.New(io.Discard, "", 0) // the guest refuses its certificate
	reg.StartTLS()
	t.Cleanup(reg.Close)
	_, port, _ := strings.Cut(strings.TrimPrefix(reg.URL, "https://127.0.0.1"), ":")
	app := "hello-" + arch
	dir := t.TempDir()
	for v := 1; v <= 2; v++ {
		spec := fmt.Sprintf(`{"version": 1, "tenant": "acme", "name": %q,
  "image": {"ref": "10.0.2.2:%s/acme/hello:1"}, "env": {"V": "%d"},
  "health": {"http": {"port": 8080, "path": "/healthz"}, "interval": "2s"}}`, app, port, v)
		f := filepath.Join(dir, fmt.Sprintf("v%d.json", v))
		if err := os.WriteFile(f, []byte(spec), 0o644); err != nil {
			t.Fatal(err)
		}
		tw.run(t, "apps", "put", "-f", f)
	}

	// Version 1, all at once: the site gets it and reports it.
	tw.run(t, "deploy", "set", "-version", "1", "acme/"+app)
	st := waitAppStatus(t, tw, siteID, app, "version 1 reported", func(s workloadapi.Status) bool {
		return s.AppVersion == 1 && s.State == workloadapi.StateFailed
	})
	if !strings.Contains(st.Error, "certificate") {
		t.Errorf("version 1 on the site: %+v; want its pull refused for the registry's certificate", st)
	}

	// Version 2 with a canary: it fails there and is rolled back.
	tw.run(t, "deploy", "set", "-version", "2", "-canary", "1", "-canary-healthy", "10s", "-site-timeout", "3m", "acme/"+app)
	var d towerapi.Deployment
	for deadline := time.Now().Add(3 * time.Minute); ; time.Sleep(2 * time.Second) {
		tw.json(t, &d, "rollout", "status", "-o", "json", "acme/"+app)
		if d.Rollout != nil && d.Rollout.State != towerapi.RolloutProgressing {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the rollout of version 2 never stopped: %+v", d.Rollout)
		}
	}
	if d.Rollout.State != towerapi.RolloutRolledBack || d.Rollout.Failed != 1 || d.Rollout.Sites[0].Site != siteID {
		t.Fatalf("rollout of version 2: %+v; want rolled back after box A (the canary) failed", d.Rollout)
	}
	t.Logf("rollout of version 2: %s", d.Rollout.Reason)
	waitAppStatus(t, tw, siteID, app, "version 1 back", func(s workloadapi.Status) bool { return s.AppVersion == 1 })
	boot := site(t, tw, siteID).BootID

	t.Cleanup(func() {
		if t.Failed() {
			return
		}
		var s towerapi.Site
		for deadline := time.Now().Add(3 * time.Minute); ; time.Sleep(2 * time.Second) {
			s = site(t, tw, siteID)
			if st := appStatus(s, app); s.BootID != boot && st != nil && st.AppVersion == 1 {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("after the reboot (boot %s, before %s) box A reports %+v, want %s at version 1", s.BootID, boot, s.Apps, app)
				return
			}
		}
		tw.json(t, &d, "rollout", "status", "-o", "json", "acme/"+app)
		if d.Rollout.State != towerapi.RolloutRolledBack {
			t.Errorf("after the reboot the rollout is %s, want still rolled back", d.Rollout.State)
		}
	})
}

func appStatus(s towerapi.Site, app string) *workloadapi.Status {
	for i := range s.Apps {
		if s.Apps[i].Tenant == "acme" && s.Apps[i].Name == app {
			return &s.Apps[i]
		}
	}
	return nil
}

// waitAppStatus waits until the tower shows the site's app as ok wants.
func waitAppStatus(t *testing.T, tw *hostTower, siteID, app, what string, ok func(workloadapi.Status) bool) workloadapi.Status {
	t.Helper()
	var s towerapi.Site
	for deadline := time.Now().Add(3 * time.Minute); time.Now().Before(deadline); time.Sleep(2 * time.Second) {
		s = site(t, tw, siteID)
		if st := appStatus(s, app); st != nil && ok(*st) {
			return *st
		}
	}
	t.Fatalf("%s: box A reports %+v", what, s.Apps)
	return workloadapi.Status{}
}

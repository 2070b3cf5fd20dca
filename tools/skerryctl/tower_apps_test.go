package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/skerry/skerry/services/api/enrollapi"
	"github.com/skerry/skerry/services/api/towerapi"
	"github.com/skerry/skerry/services/api/workloadapi"
	"github.com/skerry/skerry/services/tower/towertest"
)

// runCmd runs one command function of skerryctl with args. The tests
// call the functions, not the command tree, which main.go owns.
func runCmd(fn func(context.Context, io.Writer, io.Writer, []string) error, args ...string) (string, error) {
	var stdout, stderr bytes.Buffer
	err := fn(context.Background(), &stdout, &stderr, args)
	return stdout.String(), err
}

func mustRun(t *testing.T, fn func(context.Context, io.Writer, io.Writer, []string) error, args ...string) string {
	t.Helper()
	out, err := runCmd(fn, args...)
	if err != nil {
		t.Fatalf("%s: %v", strings.Join(args, " "), err)
	}
	return out
}

// TestTowerApps stores app versions, deploys one and reads both back with
// runTowerApps and runTowerDeploy (for main.go to wire as "tower apps" and
// "tower deploy").
func TestTowerApps(t *testing.T) {
	towerCLI(t) // logs in
	mustRun(t, runTenants, "create", "acme")
	run := runCmd
	dir := t.TempDir()
	spec := func(name, ref string) string {
		p := filepath.Join(dir, name+".json")
		os.WriteFile(p, []byte(`{"version": 1, "tenant": "acme", "name": "`+name+`", "image": {"ref": "`+ref+`"}}`), 0o644)
		return p
	}
	for _, ref := range []string{"r.example/web:1", "r.example/web:2"} {
		if _, err := run(runTowerApps, "put", "-f", spec("web", ref)); err != nil {
			t.Fatalf("apps put %s: %v", ref, err)
		}
	}
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"version": 1, "tenant": "acme", "name": "web", "image": {"ref": "r/x:1"}, "resources": {"memory": "lots"}}`), 0o644)
	if _, err := run(runTowerApps, "put", "-f", bad); err == nil || !strings.Contains(err.Error(), "resources.memory") {
		t.Errorf("apps put of a bad spec: got %v, want a refusal naming resources.memory", err)
	}

	out, err := run(runTowerApps, "list", "-tenant", "acme", "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var apps []towerapi.App
	if err := json.Unmarshal([]byte(out), &apps); err != nil {
		t.Fatal(err)
	}
	if len(apps) != 1 || apps[0].Version != 2 || apps[0].Spec.Image.Ref != "r.example/web:2" {
		t.Errorf("apps list: got %+v, want web version 2", apps)
	}
	if out, err := run(runTowerApps, "show", "-version", "1", "acme/web"); err != nil || !strings.Contains(out, "version 1") || !strings.Contains(out, `"ref": "r.example/web:1"`) {
		t.Errorf("apps show -version 1: got %q, %v", out, err)
	}

	if _, err := run(runTowerDeploy, "set", "-version", "1", "-selector", "region=north", "acme/web"); err != nil {
		t.Fatal(err)
	}
	out, err = run(runTowerDeploy, "list", "-tenant", "acme")
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 {
		t.Fatalf("deploy list: got\n%s", out)
	}
	if diff := cmp.Diff([]string{"acme", "web", "1", "region=north"}, strings.Fields(lines[1])[:4]); diff != "" {
		t.Errorf("deploy list row (-want +got):\n%s", diff)
	}
	if _, err := run(runTowerApps, "delete", "acme/web"); err == nil || !strings.Contains(err.Error(), "deployed") {
		t.Errorf("apps delete while deployed: got %v, want refused", err)
	}
	if _, err := run(runTowerDeploy, "delete", "acme/web"); err != nil {
		t.Fatal(err)
	}
	if _, err := run(runTowerApps, "delete", "acme/web"); err != nil {
		t.Fatal(err)
	}
}

// TestTowerSiteShowsApps: the app statuses a site reports show in
// "sites show".
func TestTowerSiteShowsApps(t *testing.T) {
	tw, _, _ := towerCLI(t)
	mustRun(t, runTenants, "create", "lab", "-allow-software-identity")
	var tok towerapi.EnrollTokenCreated
	json.Unmarshal([]byte(mustRun(t, runTokens, "create", "-tenant", "lab", "-o", "json")), &tok)
	sw := towertest.NewSoftwareAgent(t, tw.URL, tw.CAPEM)
	ctx := context.Background()
	res, err := sw.Enroll(ctx, tok.Token)
	if err != nil {
		t.Fatal(err)
	}
	cert := tls.Certificate{Certificate: [][]byte{res.Certificate}, PrivateKey: sw.Key}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: sw.CAPool, Certificates: []tls.Certificate{cert}}}}
	report := enrollapi.StatusReport{Apps: []workloadapi.Status{
		{Tenant: "lab", Name: "web", State: workloadapi.StateRunning, Health: workloadapi.HealthHealthy, Restarts: 2},
		{Tenant: "lab", Name: "db", State: workloadapi.StateFailed, Error: "pull: unauthorized"},
	}}
	if _, err := towertest.Post(ctx, hc, tw.URL+enrollapi.PathStatus, report, nil); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range strings.Split(mustRun(t, runSites, "show", res.SiteID), "\n") {
		if strings.HasPrefix(l, "app ") {
			f := strings.Fields(l)
			got = append(got, f[1]+" "+strings.Join(f[2:], " "))
		}
	}
	want := []string{"lab/web running, healthy, 2 restarts", "lab/db failed, error: pull: unauthorized"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("sites show app rows (-want +got):\n%s", diff)
	}
}

package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/skerry/skerry/services/api/towerapi"
	"github.com/skerry/skerry/services/tower/towertest"
)

// TestTowerRollout deploys with strategy flags to a tenant with one
// silent site, so the canary step waits, and drives the rollout by hand:
// status as a table and as JSON, pause, resume, rollback.
func TestTowerRollout(t *testing.T) {
	tw, cli, try := towerCLI(t)
	cli("tenants", "create", "acme", "-allow-software-identity")
	var tok towerapi.EnrollTokenCreated
	json.Unmarshal([]byte(cli("tokens", "create", "-tenant", "acme", "-o", "json")), &tok)
	if _, err := towertest.NewSoftwareAgent(t, tw.URL, tw.CAPEM).Enroll(context.Background(), tok.Token); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, v := range []string{"1", "2"} {
		p := filepath.Join(dir, "web.json")
		os.WriteFile(p, []byte(`{"version": 1, "tenant": "acme", "name": "web", "image": {"ref": "r.example/web:`+v+`"}}`), 0o644)
		cli("apps", "put", "-f", p)
	}
	cli("deploy", "set", "-version", "1", "acme/web")
	if out := cli("rollout", "status", "acme/web"); !strings.Contains(out, "reached every selected site at once") {
		t.Errorf("status without a strategy:\n%s", out)
	}

	for _, bad := range []struct{ flag, value, want string }{
		{"-on-failure", "panic", "strategy.onFailure"},
		{"-canary-healthy", "1500ms", "whole seconds"},
		{"-max-failure-fraction", "2", "strategy.maxFailureFraction"},
	} {
		if _, err := try("deploy", "set", "-version", "2", bad.flag, bad.value, "acme/web"); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("deploy set %s %s: got %v, want a refusal naming %s", bad.flag, bad.value, err, bad.want)
		}
	}
	out := cli("deploy", "set", "-version", "2", "-canary", "1", "-canary-healthy", "1m", "-batch", "5", "-on-failure", "pause", "acme/web")
	if !strings.Contains(out, "progressing (step 1 of 1)") {
		t.Errorf("deploy set with a strategy:\n%s", out)
	}
	out = cli("rollout", "status", "acme/web")
	for _, want := range []string{"acme/web version 2 (previous 1): progressing (step 1 of 1)", "canary  1      updating  1m0s", "softbox  canary  updating  2"} {
		if !strings.Contains(out, want) {
			t.Errorf("rollout status lacks %q:\n%s", want, out)
		}
	}
	for _, step := range []struct{ action, state string }{
		{"pause", towerapi.RolloutPaused}, {"resume", towerapi.RolloutProgressing}, {"rollback", towerapi.RolloutRolledBack},
	} {
		var d towerapi.Deployment
		if err := json.Unmarshal([]byte(cli("rollout", step.action, "acme/web", "-o", "json")), &d); err != nil {
			t.Fatal(err)
		}
		if d.Rollout == nil || d.Rollout.State != step.state {
			t.Errorf("rollout %s: got %+v, want %s", step.action, d.Rollout, step.state)
		}
	}
	var d towerapi.Deployment
	if err := json.Unmarshal([]byte(cli("rollout", "status", "acme/web", "-o", "json")), &d); err != nil {
		t.Fatal(err)
	}
	if len(d.Rollout.Sites) != 1 || d.Rollout.Sites[0].Version != 1 {
		t.Errorf("after rollback the site should run version 1: %+v", d.Rollout.Sites)
	}
	if _, err := try("rollout", "resume", "acme/web"); err == nil || !strings.Contains(err.Error(), "rolledBack") {
		t.Errorf("resume after rollback: got %v, want refused naming the state", err)
	}
}

// Command rollout measures the rollout of one app version to many
// simulated sites (towertest.SimSite: software identities that long-poll
// their desired state and report each app running and healthy) on one
// tower, run as its own process so its CPU time is its own. Each round
// deploys a new version twice over: all at once (the baseline: no
// strategy) and with a strategy (canary, then batches), and reports the
// time until every site runs it healthy and the tower's CPU time over
// that span. docs/benchmarks.md records its output.
//
//	go run ./tools/bench/rollout -sites 100 -rounds 3
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/skerry/skerry/services/api/towerapi"
	"github.com/skerry/skerry/services/tower/towertest"
	"github.com/skerry/skerry/tools/bench/internal/proc"
)

func main() {
	sites := flag.Int("sites", 100, "simulated sites")
	rounds := flag.Int("rounds", 3, "rounds, each an all-at-once deployment and a rollout")
	canary := flag.Int("canary", 5, "canary sites of the rollout")
	batch := flag.Int("batch", 20, "batch size of the rollout")
	every := flag.Duration("report", 5*time.Second, "each site's status report interval (a site also reports right after it changes)")
	flag.Parse()
	st := towerapi.Strategy{Canary: *canary, BatchSize: *batch}
	if err := run(*sites, *rounds, *every, st); err != nil {
		fmt.Fprintf(os.Stderr, "bench rollout: %v\n", err)
		os.Exit(1)
	}
}

type tower struct {
	pid int
	op  *towerapi.Client
	url string
	ca  []byte
}

func startTower(ctx context.Context, work string, report time.Duration) (*tower, *exec.Cmd, error) {
	bin := filepath.Join(work, "tower")
	build := exec.Command("go", "build", "-o", bin, "./services/cmd/tower")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		return nil, nil, fmt.Errorf("build tower: %w", err)
	}
	data := filepath.Join(work, "data")
	cmd := exec.CommandContext(ctx, bin, "-data", data, "-listen", "127.0.0.1:0", "-enroll-rate", "0", "-report-interval", report.String())
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, nil, fmt.Errorf("start tower: %w", err)
	}
	url, err := proc.Serving(bufio.NewScanner(out))
	if err != nil {
		return nil, cmd, err
	}
	ca, err := os.ReadFile(filepath.Join(data, "ca.crt"))
	if err != nil {
		return nil, cmd, err
	}
	tok, err := os.ReadFile(filepath.Join(data, "operator-token"))
	if err != nil {
		return nil, cmd, err
	}
	op, err := towerapi.NewClient(url, strings.TrimSpace(string(tok)), ca)
	return &tower{pid: cmd.Process.Pid, op: op, url: url, ca: ca}, cmd, err
}

func run(n, rounds int, every time.Duration, st towerapi.Strategy) error {
	work, err := os.MkdirTemp("", "bench-rollout-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tw, cmd, err := startTower(ctx, work, every)
	if cmd != nil {
		defer func() { cancel(); cmd.Wait() }()
	}
	if err != nil {
		return err
	}
	if err := tw.op.Do(ctx, "POST", "/v1/tenants", towerapi.Tenant{ID: "bench", AllowSoftwareIdentity: true}, nil); err != nil {
		return err
	}
	var tok towerapi.EnrollTokenCreated
	if err := tw.op.Do(ctx, "POST", "/v1/enrollment-tokens", towerapi.EnrollTokenCreate{Tenant: "bench"}, &tok); err != nil {
		return err
	}
	sites := make([]*towertest.SimSite, n)
	for i := range sites {
		if sites[i], err = towertest.EnrollSim(ctx, tw.url, tw.ca, tok.Token); err != nil {
			return err
		}
		sites[i].Every = every
		sites[i].Start()
		defer sites[i].Stop()
	}

	version := 0
	deploy := func(strategy *towerapi.Strategy) (time.Duration, time.Duration, error) {
		version++
		spec := fmt.Sprintf(`{"version": 1, "tenant": "bench", "name": "web", "image": {"ref": "registry.example/web:%d"}}`, version)
		if err := tw.op.Do(ctx, "PUT", "/v1/tenants/bench/apps/web", json.RawMessage(spec), nil); err != nil {
			return 0, 0, err
		}
		time.Sleep(time.Second) // let the wake-up of the app store pass
		start, cpu0 := time.Now(), proc.CPUTime(tw.pid)
		in := towerapi.DeploymentSet{Version: version, Strategy: strategy}
		if err := tw.op.Do(ctx, "PUT", "/v1/tenants/bench/deployments/web", in, nil); err != nil {
			return 0, 0, err
		}
		if err := converged(ctx, tw.op, sites, version, strategy != nil); err != nil {
			return 0, 0, err
		}
		return time.Since(start), proc.CPUTime(tw.pid) - cpu0, nil
	}
	if _, _, err := deploy(nil); err != nil { // every site runs a version first
		return err
	}
	var baseT, baseCPU, rollT, rollCPU []time.Duration
	for range rounds {
		t, c, err := deploy(nil)
		if err != nil {
			return err
		}
		baseT, baseCPU = append(baseT, t), append(baseCPU, c)
		t, c, err = deploy(&st)
		if err != nil {
			return err
		}
		rollT, rollCPU = append(rollT, t), append(rollCPU, c)
	}
	// Idle: what the sites' reports and polls cost the tower anyway.
	cpu0 := proc.CPUTime(tw.pid)
	time.Sleep(10 * time.Second)
	idle := (proc.CPUTime(tw.pid) - cpu0) / 10

	fmt.Printf("%d sites reporting every %s; rollout canary %d, batches of %d; median of %d rounds\n\n", n, every, st.Canary, st.BatchSize, rounds)
	fmt.Printf("| deployment | time to all sites healthy | tower CPU | rollout/baseline time | rollout/baseline CPU |\n|---|---|---|---|---|\n")
	fmt.Printf("| all at once (baseline) | %s | %s | 1 | 1 |\n", median(baseT), median(baseCPU))
	fmt.Printf("| canary + batches | %s | %s | %.2f | %.2f |\n", median(rollT), median(rollCPU),
		median(rollT).Seconds()/median(baseT).Seconds(), median(rollCPU).Seconds()/max(median(baseCPU).Seconds(), 0.01))
	fmt.Printf("\ntower CPU idle with %d sites: %s per second\n", n, idle)
	return nil
}

// converged waits until every site has reported version running healthy
// to the tower and, for a rollout, the tower says the rollout completed.
func converged(ctx context.Context, op *towerapi.Client, sites []*towertest.SimSite, version int, rollout bool) error {
	deadline := time.Now().Add(5 * time.Minute)
	for time.Now().Before(deadline) {
		all := true
		for _, s := range sites {
			all = all && s.Reported("web") == version
		}
		if all && rollout {
			var d towerapi.Deployment
			if err := op.Do(ctx, "GET", "/v1/tenants/bench/deployments/web", nil, &d); err != nil {
				return err
			}
			if d.Rollout.State != towerapi.RolloutProgressing && d.Rollout.State != towerapi.RolloutCompleted {
				return fmt.Errorf("rollout of version %d: %s (%s)", version, d.Rollout.State, d.Rollout.Reason)
			}
			all = d.Rollout.State == towerapi.RolloutCompleted
		}
		if all {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("version %d did not reach every site within 5 minutes", version)
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2].Round(time.Millisecond)
}

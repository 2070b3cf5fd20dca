// Command tower measures how many enrollments per second the tower
// sustains with many concurrent software-TPM clients, and the tower's RSS
// idle and under that load. It builds the tower binary, runs it as its own
// process (so its RSS is its own), starts one swtpm per client, and drives
// them through go-attestation for -dur. docs/benchmarks.md records its
// output.
//
//	go run ./tools/bench/tower -clients 16 -dur 20s
//
// Each client enrolls once by token, then repeats: allow re-enrollment
// (one operator API call, not counted), start, activate the credential in
// its swtpm, finish. Every counted enrollment is a full registration: the
// tower verifies the AK, generates the credential, checks the activated
// secret and the key certification, and signs a site certificate. The AK
// and certified key are made once per client, as an agent that restarts
// enrollment would reuse them; the activation runs in the TPM every time.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/skerry/skerry/services/api/enrollapi"
	"github.com/skerry/skerry/services/api/towerapi"
	"github.com/skerry/skerry/services/tower/towertest"
	"github.com/skerry/skerry/tools/bench/internal/proc"
)

func main() {
	clients := flag.Int("clients", 16, "concurrent clients, one swtpm each")
	dur := flag.Duration("dur", 20*time.Second, "measured duration")
	work := flag.String("work", "", "scratch directory (default: a new one under $TMPDIR)")
	stalledN := flag.String("stalled", "", "instead of enrolling: comma-separated numbers of stalled clients to hold open, measuring the tower's RSS (e.g. 0,250,1000,4000)")
	flag.Parse()
	stalledCounts = *stalledN
	if err := run(*clients, *dur, *work); err != nil {
		fmt.Fprintf(os.Stderr, "bench tower: %v\n", err)
		os.Exit(1)
	}
}

func run(clients int, dur time.Duration, work string) error {
	if work == "" {
		d, err := os.MkdirTemp("", "bench-tower-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		work = d
	}
	bin := filepath.Join(work, "tower")
	build := exec.Command("go", "build", "-o", bin, "./services/cmd/tower")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		return fmt.Errorf("build tower: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	data := filepath.Join(work, "data")
	cmd := exec.CommandContext(ctx, bin, "-data", data, "-listen", "127.0.0.1:0", "-uplink-listen", "off", "-enroll-rate", "0") // all clients share one address
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start tower: %w", err)
	}
	// Stop the tower before waiting for it (defers run last-in first-out).
	defer func() { cancel(); cmd.Wait() }()
	url, err := proc.Serving(bufio.NewScanner(out))
	if err != nil {
		return err
	}
	caPEM, err := os.ReadFile(filepath.Join(data, "ca.crt"))
	if err != nil {
		return err
	}
	tokB, err := os.ReadFile(filepath.Join(data, "operator-token"))
	if err != nil {
		return err
	}
	op, err := towerapi.NewClient(url, strings.TrimSpace(string(tokB)), caPEM)
	if err != nil {
		return err
	}
	if err := op.Do(ctx, "POST", "/v1/tenants", towerapi.Tenant{ID: "bench", AllowSoftwareIdentity: true}, nil); err != nil { // swtpms without a trusted maker: software identities
		return err
	}
	var tok towerapi.EnrollTokenCreated
	if err := op.Do(ctx, "POST", "/v1/enrollment-tokens", towerapi.EnrollTokenCreate{Tenant: "bench"}, &tok); err != nil {
		return err
	}
	time.Sleep(2 * time.Second)
	idle := rss(cmd.Process.Pid)
	if stalledCounts != "" {
		return stalled(ctx, url, caPEM, cmd.Process.Pid, idle, stalledCounts)
	}

	agents := make([]*towertest.Agent, clients)
	for i := range agents {
		sw, err := towertest.StartSWTPM(filepath.Join(work, fmt.Sprintf("tpm%d", i)))
		if err != nil {
			return err
		}
		defer sw.Close()
		tpm, err := sw.Open()
		if err != nil {
			return err
		}
		if agents[i], err = towertest.NewAgent(url, caPEM, tpm); err != nil {
			return err
		}
		defer agents[i].Close()
	}

	var mu sync.Mutex
	var lat []time.Duration
	var failures int
	var firstErr error
	var peak int64
	deadline := time.Now().Add(dur)
	var wg sync.WaitGroup
	for _, a := range agents {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l, err := loop(ctx, a, op, tok.Token, deadline)
			mu.Lock()
			defer mu.Unlock()
			lat = append(lat, l...)
			if err != nil {
				failures++
				if firstErr == nil {
					firstErr = err
				}
			}
		}()
	}
	stop := make(chan struct{})
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(200 * time.Millisecond):
			}
			if r := rss(cmd.Process.Pid); r > peak {
				peak = r
			}
		}
	}()
	start, cpu0 := time.Now(), proc.CPUTime(cmd.Process.Pid)
	wg.Wait()
	elapsed, cpu := time.Since(start), proc.CPUTime(cmd.Process.Pid)-cpu0
	close(stop)
	after := rss(cmd.Process.Pid)
	if firstErr != nil {
		fmt.Fprintf(os.Stderr, "%d clients failed; first: %v\n", failures, firstErr)
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(p float64) time.Duration {
		if len(lat) == 0 {
			return 0
		}
		return lat[int(p*float64(len(lat)-1))].Round(time.Millisecond)
	}
	perEnroll := time.Duration(0)
	if len(lat) > 0 {
		perEnroll = cpu / time.Duration(len(lat))
	}
	fmt.Printf("| clients (swtpm) | enrollments | enrollments/s | p50 | p99 | tower CPU per enrollment | tower RSS idle | tower RSS peak under load | RSS after |\n")
	fmt.Printf("|---|---|---|---|---|---|---|---|---|\n")
	fmt.Printf("| %d | %d | %.1f | %v | %v | %v | %.1f MiB | %.1f MiB | %.1f MiB |\n", clients, len(lat),
		float64(len(lat))/elapsed.Seconds(), pct(0.5), pct(0.99), perEnroll.Round(10*time.Microsecond), mib(idle), mib(peak), mib(after))
	return nil
}

// loop enrolls a over and over until the deadline; it returns the latency
// of each enrollment (start to registered, TPM activation included).
func loop(ctx context.Context, a *towertest.Agent, op *towerapi.Client, token string, deadline time.Time) ([]time.Duration, error) {
	res, err := a.Enroll(ctx, token)
	if err != nil || res.Status != enrollapi.StatusRegistered {
		return nil, fmt.Errorf("first enrollment: %+v %w", res, err)
	}
	fin, err := a.CertifiedKey()
	if err != nil {
		return nil, err
	}
	in := a.StartRequest(token)
	var lat []time.Duration
	for time.Now().Before(deadline) {
		if err := op.Do(ctx, "POST", "/v1/sites/"+res.SiteID+"/allow-reenroll", nil, nil); err != nil {
			return lat, err
		}
		t0 := time.Now()
		ch, err := a.Start(ctx, in)
		if err != nil {
			return lat, err
		}
		secret, err := a.AK.ActivateCredential(a.TPM, ch.EncryptedCredential())
		if err != nil {
			return lat, err
		}
		fin.ChallengeID, fin.ActivatedSecret = ch.ChallengeID, secret
		r, err := a.Finish(ctx, fin)
		if err != nil || r.Status != enrollapi.StatusRegistered {
			return lat, fmt.Errorf("enroll: %+v %w", r, err)
		}
		lat = append(lat, time.Since(t0))
	}
	return lat, nil
}

// rss returns the resident set size of pid in bytes.
func rss(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			var kb int64
			fmt.Sscanf(strings.TrimSpace(v), "%d", &kb)
			return kb * 1024
		}
	}
	return 0
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

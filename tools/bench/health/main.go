// Command health measures the resident memory of `skerry health` under N
// stalled clients (connections that send part of a request's headers and
// then nothing), and whether a fresh client is still answered, for the
// skerry binary under test and a baseline binary, in the same run.
//
//	go build -o /tmp/skerry ./services/cmd/skerry
//	git archive main | (mkdir -p /tmp/base && tar -x -C /tmp/base)
//	(cd /tmp/base && go build -o /tmp/skerry-main ./services/cmd/skerry)
//	go run ./tools/bench/health -bin /tmp/skerry -baseline /tmp/skerry-main
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	if err := run(os.Stdout, os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "bench health: %v\n", err)
		os.Exit(1)
	}
}

func run(stdout io.Writer, args []string) error {
	fs := flag.NewFlagSet("health", flag.ContinueOnError)
	bin := fs.String("bin", "", "skerry binary under test")
	base := fs.String("baseline", "", "baseline skerry binary (optional)")
	counts := fs.String("n", "0,64,256,1024,2048", "stalled client counts, ascending")
	settle := fs.Duration("settle", time.Second, "wait after opening the clients before measuring")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *bin == "" {
		return fmt.Errorf("-bin is required")
	}
	var ns []int
	for _, f := range strings.Split(*counts, ",") {
		n, err := strconv.Atoi(f)
		if err != nil {
			return fmt.Errorf("-n %q: %w", *counts, err)
		}
		ns = append(ns, n)
	}
	lim := syscall.Rlimit{Cur: 65536, Max: 65536}
	syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim)
	fmt.Fprintln(stdout, "| binary | stalled TCP clients | RSS MiB | peak RSS MiB | fresh GET on TCP | fresh GET on the unix socket |")
	fmt.Fprintln(stdout, "|---|---:|---:|---:|---|---|")
	bins := []struct{ name, path string }{{"this branch", *bin}}
	if *base != "" {
		bins = append(bins, struct{ name, path string }{"baseline", *base})
	}
	for _, b := range bins {
		if err := measure(stdout, b.name, b.path, ns, *settle); err != nil {
			return fmt.Errorf("%s: %w", b.name, err)
		}
	}
	return nil
}

func measure(stdout io.Writer, name, bin string, ns []int, settle time.Duration) error {
	dir, err := os.MkdirTemp("", "bench-health")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	addr := l.Addr().String()
	l.Close()
	sock := filepath.Join(dir, "health.sock")
	cmd := exec.Command(bin, "health", "-socket", sock, "-listen", addr, "-tpm", filepath.Join(dir, "no-tpm"))
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		return err
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	if _, err := get("tcp", addr, 10*time.Second); err != nil {
		return fmt.Errorf("not serving: %w", err)
	}
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for _, n := range ns {
		for len(conns) < n {
			c, err := net.DialTimeout("tcp", addr, 5*time.Second)
			if err != nil {
				return fmt.Errorf("client %d: %w", len(conns), err)
			}
			// Headers begun, never finished; a body declared, never sent
			// would need finished headers, which SiteLimits also cut.
			fmt.Fprintf(c, "GET /v1/health HTTP/1.1\r\nHost: box\r\nX-Stall: ")
			conns = append(conns, c)
		}
		time.Sleep(settle)
		rss, hwm, err := memory(cmd.Process.Pid)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "| %s | %d | %.1f | %.1f | %s | %s |\n", name, n, float64(rss)/(1<<20), float64(hwm)/(1<<20),
			fresh("tcp", addr), fresh("unix", sock))
	}
	return nil
}

// fresh says how long a new client waits for an answer (up to 15 s).
func fresh(network, addr string) string {
	d, err := get(network, addr, 15*time.Second)
	if err != nil {
		return "no answer in 15s"
	}
	return fmt.Sprintf("answered in %v", d.Round(time.Millisecond))
}

func get(network, addr string, timeout time.Duration) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	start := time.Now()
	tr := &http.Transport{DisableKeepAlives: true, DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}}
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://box/v1/health", nil)
		resp, err := (&http.Client{Transport: tr}).Do(req)
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			return time.Since(start), nil
		}
		if ctx.Err() != nil {
			return 0, err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// memory reads VmRSS and VmHWM in bytes.
func memory(pid int) (rss, hwm int64, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, _ := strings.Cut(sc.Text(), ":")
		kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "VmRSS":
			rss = kb << 10
		case "VmHWM":
			hwm = kb << 10
		}
	}
	return rss, hwm, sc.Err()
}

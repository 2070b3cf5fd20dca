// Command vault measures the idle resident memory of `skerry vault` on a
// swtpm, auditing into a `skerry streamlog` of the same binary (the
// baseline of the same run: another service of the one multi-call
// binary), after some secret writes, for one or more skerry binaries:
//
//	go run ./tools/mkimage ... (or) CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o /tmp/skerry ./services/cmd/skerry
//	go run ./tools/bench/vault -bin /tmp/skerry[,/tmp/skerry-main] [-writes 20] [-settle 10s] [-runs 3]
//
// It prints a markdown table: VmRSS, RssAnon, RssFile (pages of the
// binary) and PSS of both processes, medians of the runs.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/skerry/skerry/qemu/swtpm"
	"github.com/skerry/skerry/services/vault/client"
)

func main() {
	if err := run(os.Stdout, os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "bench vault: %v\n", err)
		os.Exit(1)
	}
}

func run(stdout io.Writer, args []string) error {
	fs := flag.NewFlagSet("vault", flag.ContinueOnError)
	bins := fs.String("bin", "", "skerry binaries, comma-separated")
	writes := fs.Int("writes", 20, "secrets written before measuring")
	settle := fs.Duration("settle", 10*time.Second, "wait after the writes before measuring")
	runs := fs.Int("runs", 3, "runs per binary (the median is printed)")
	extra := fs.String("vault-args", "", "extra arguments of skerry vault, space-separated")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *bins == "" {
		return fmt.Errorf("-bin is required")
	}
	fmt.Fprintln(stdout, "| binary | process | VmRSS MB | RssAnon MB | RssFile MB | PSS MB |")
	fmt.Fprintln(stdout, "|---|---|---:|---:|---:|---:|")
	for _, bin := range strings.Split(*bins, ",") {
		var vault, sl [][4]float64
		for range *runs {
			v, s, err := once(bin, *writes, *settle, strings.Fields(*extra))
			if err != nil {
				return fmt.Errorf("%s: %w", bin, err)
			}
			vault, sl = append(vault, v), append(sl, s)
		}
		for _, row := range []struct {
			name string
			ms   [][4]float64
		}{{"skerry vault", vault}, {"skerry streamlog (baseline)", sl}} {
			fmt.Fprintf(stdout, "| %s | %s | %.1f | %.1f | %.1f | %.1f |\n", bin, row.name, median(row.ms, 0), median(row.ms, 1), median(row.ms, 2), median(row.ms, 3))
		}
	}
	return nil
}

// once starts a swtpm, a streamlog and a vault in a fresh directory,
// writes secrets, waits, and reads both services' memory.
func once(bin string, writes int, settle time.Duration, extra []string) (vault, sl [4]float64, err error) {
	dir, err := os.MkdirTemp("", "bench-vault-")
	if err != nil {
		return
	}
	defer os.RemoveAll(dir)
	tpm, err := swtpm.Start(swtpm.Config{State: filepath.Join(dir, "tpm-state"), Dir: filepath.Join(dir, "tpm")})
	if err != nil {
		return
	}
	defer tpm.Stop()
	slSock, vSock := filepath.Join(dir, "sl.sock"), filepath.Join(dir, "vault.sock")
	slCmd, err := start(bin, slSock, "streamlog", "-dir", filepath.Join(dir, "sl"), "-socket", slSock)
	if err != nil {
		return
	}
	defer stop(slCmd)
	vCmd, err := start(bin, vSock, append([]string{"vault", "-dir", filepath.Join(dir, "vault"), "-socket", vSock, "-tpm", tpm.Path(),
		"-streamlog", slSock, "-streamlog-token", filepath.Join(dir, "sl", "system.token")}, extra...)...)
	if err != nil {
		return
	}
	defer stop(vCmd)
	tok, err := os.ReadFile(filepath.Join(dir, "vault", "system.token"))
	if err != nil {
		return
	}
	c := client.New(vSock, string(tok)).ForTenant("acme")
	defer c.Close()
	ctx := context.Background()
	for i := range writes {
		if _, err = c.PutSecret(ctx, fmt.Sprintf("s%d", i), []byte(strings.Repeat("x", 64))); err != nil {
			return
		}
	}
	c.Close()
	time.Sleep(settle)
	if vault, err = memory(vCmd.Process.Pid); err != nil {
		return
	}
	sl, err = memory(slCmd.Process.Pid)
	return
}

// start runs bin with args and waits for its socket.
func start(bin, sock string, args ...string) (*exec.Cmd, error) {
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(sock); err == nil {
			return cmd, nil
		}
	}
	stop(cmd)
	return nil, fmt.Errorf("%s %s: no socket %s after 20s", bin, args[0], sock)
}

func stop(cmd *exec.Cmd) {
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		cmd.Process.Kill()
		<-done
	}
}

// memory reads VmRSS, RssAnon and RssFile of pid from /proc/pid/status
// and its PSS from smaps_rollup (the binary's pages divided among the
// processes that map them), in MB.
func memory(pid int) ([4]float64, error) {
	var out [4]float64
	for _, file := range []string{"status", "smaps_rollup"} {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/%s", pid, file))
		if err != nil {
			return out, err
		}
		for _, l := range strings.Split(string(b), "\n") {
			f := strings.Fields(l)
			if len(f) < 2 {
				continue
			}
			kb, _ := strconv.ParseFloat(f[1], 64)
			switch f[0] {
			case "VmRSS:":
				out[0] = kb / 1000
			case "RssAnon:":
				out[1] = kb / 1000
			case "RssFile:":
				out[2] = kb / 1000
			case "Pss:":
				out[3] = kb / 1000
			}
		}
	}
	return out, nil
}

func median(ms [][4]float64, i int) float64 {
	var v []float64
	for _, m := range ms {
		v = append(v, m[i])
	}
	slices.Sort(v)
	return v[len(v)/2]
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/skerry/skerry/services/api/towerapi"
)

// guestHost is the host as a QEMU guest on user-mode networking sees it.
const guestHost = "10.0.2.2"

// tower is a tower on host loopback, its embedded hub receiving the box's
// uplink (and, with -hub, a separate hub beside it), kept in dir
// (OUT/run/tower) across runs: its data, its ports, the enrollment token.
type tower struct {
	dir       string
	bin, ctl  string // tower and skerryctl binaries
	port      string // the tower's API on 127.0.0.1
	uplink    string // the tower's embedded hub (MQTT over TLS) on 127.0.0.1
	hubPort   string // the hub's MQTT over TLS on 127.0.0.1, "" without one
	CA        string // PEM of the tower CA
	Token     string // enrollment token of tenant demo
	procs     []*exec.Cmd
	ctlEnv    []string
	logs      []*os.File
	tokenFile string
}

func (t *tower) path(p ...string) string { return filepath.Join(append([]string{t.dir}, p...)...) }

// GuestURL is the tower's API as the guest reaches it.
func (t *tower) GuestURL() string { return "https://" + guestHost + ":" + t.port }

// GuestHub is the separate hub's address as the guest reaches it, ""
// without one: the box then uplinks to the address the tower tells it at
// enrollment, 10.0.2.2 (the Host it reached the tower by) with the
// embedded hub's port.
func (t *tower) GuestHub() string {
	if t.hubPort == "" {
		return ""
	}
	return guestHost + ":" + t.hubPort
}

// startTower builds the tower and skerryctl, starts the tower (trusting
// the TPM maker CA certificates in ekRoots, its embedded hub on a kept
// port) and, with hub, a separate hub beside it, logs skerryctl in, and makes tenant demo and an enrollment token
// once. Their output goes to log files in dir: the terminal is the box's
// console.
func startTower(ctx context.Context, dir string, ekRoots []string, hub bool) (*tower, error) {
	t := &tower{dir: dir, tokenFile: filepath.Join(dir, "enrollment-token")}
	if err := os.MkdirAll(t.path("bin"), 0o755); err != nil {
		return nil, err
	}
	t.bin, t.ctl = t.path("bin", "tower"), t.path("bin", "skerryctl")
	for bin, pkg := range map[string]string{t.bin: "./services/cmd/tower", t.ctl: "./tools/skerryctl"} {
		cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, pkg)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("go build %s: %v\n%s", pkg, err, out)
		}
	}
	var err error
	if t.port, err = keptPort(t.path("port")); err != nil {
		return nil, err
	}
	if t.uplink, err = keptPort(t.path("uplink-port")); err != nil {
		return nil, err
	}
	args := []string{"-data", t.path("data"), "-listen", "127.0.0.1:" + t.port, "-uplink-listen", "127.0.0.1:" + t.uplink,
		"-san", guestHost, "-report-interval", "10s", "-pending-retry", "10s"}
	for _, r := range ekRoots {
		args = append(args, "-ek-roots", r)
	}
	if err := t.start("tower", t.bin, args...); err != nil {
		return nil, err
	}
	if err := t.waitUp(ctx); err != nil {
		t.Stop()
		return nil, err
	}
	if hub {
		if t.hubPort, err = keptPort(t.path("hub-port")); err != nil {
			t.Stop()
			return nil, err
		}
		if err := t.start("hub", t.bin, "hub", "-data", t.path("hub"), "-ca-dir", t.path("data"),
			"-listen", "127.0.0.1:"+t.hubPort, "-san", guestHost); err != nil {
			t.Stop()
			return nil, err
		}
	}
	if err := t.setup(ctx); err != nil {
		t.Stop()
		return nil, err
	}
	return t, nil
}

// keptPort returns the port stored in file, or a free one it stores: the
// box's site config names it, so it stays the same across runs.
func keptPort(file string) (string, error) {
	if b, err := os.ReadFile(file); err == nil {
		if p := strings.TrimSpace(string(b)); p != "" {
			return p, nil
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	return port, os.WriteFile(file, []byte(port+"\n"), 0o644)
}

// start runs a process in its own process group (Ctrl-C on the terminal
// reaches only vm, which stops the box first, then the tower).
func (t *tower) start(name, bin string, args ...string) error {
	logf, err := os.OpenFile(t.path(name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start %s: %w", name, err)
	}
	t.procs, t.logs = append(t.procs, cmd), append(t.logs, logf)
	return nil
}

// waitUp waits for the tower's first operator token and its listener.
func (t *tower) waitUp(ctx context.Context) error {
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if t.procs[0].ProcessState != nil || ctx.Err() != nil {
			break
		}
		tok, err := os.ReadFile(t.path("data", "operator-token"))
		if err != nil || len(bytes.TrimSpace(tok)) == 0 {
			continue
		}
		if c, err := net.Dial("tcp", "127.0.0.1:"+t.port); err == nil {
			c.Close()
			ca, err := os.ReadFile(t.path("data", "ca.crt"))
			t.CA = string(ca)
			return err
		}
	}
	return fmt.Errorf("the tower did not come up on 127.0.0.1:%s with its hub on 127.0.0.1:%s (port taken? delete %s or %s for another); its log: %s",
		t.port, t.uplink, t.path("port"), t.path("uplink-port"), t.path("tower.log"))
}

// setup logs skerryctl in (its own config file, not the user's) and makes
// tenant demo and an enrollment token for it, once.
func (t *tower) setup(ctx context.Context) error {
	t.ctlEnv = append(os.Environ(), "SKERRY_TOWER_CONFIG="+t.path("skerryctl.json"))
	tok, err := os.ReadFile(t.path("data", "operator-token"))
	if err != nil {
		return err
	}
	if _, err := t.ctlRun(ctx, "login", "--tower", "https://127.0.0.1:"+t.port, "--token", string(bytes.TrimSpace(tok)), "--ca", t.path("data", "ca.crt")); err != nil {
		return err
	}
	var tenants []towerapi.Tenant
	if err := t.ctlJSON(ctx, &tenants, "tenants", "list", "-o", "json"); err != nil {
		return err
	}
	if !hasTenant(tenants, "demo") {
		if _, err := t.ctlRun(ctx, "tenants", "create", "demo"); err != nil {
			return err
		}
	}
	if b, err := os.ReadFile(t.tokenFile); err == nil {
		t.Token = strings.TrimSpace(string(b))
		return nil
	}
	var created towerapi.EnrollTokenCreated
	if err := t.ctlJSON(ctx, &created, "tokens", "create", "-tenant", "demo", "-max-uses", "100", "-description", "make run", "-o", "json"); err != nil {
		return err
	}
	t.Token = created.Token
	return os.WriteFile(t.tokenFile, []byte(created.Token+"\n"), 0o600)
}

func hasTenant(ts []towerapi.Tenant, name string) bool {
	for _, t := range ts {
		if t.ID == name {
			return true
		}
	}
	return false
}

func (t *tower) ctlRun(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, t.ctl, append([]string{"tower"}, args...)...)
	cmd.Env = t.ctlEnv
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("skerryctl tower %s: %v: %s", strings.Join(args, " "), err, stderr.Bytes())
	}
	return out, nil
}

func (t *tower) ctlJSON(ctx context.Context, v any, args ...string) error {
	out, err := t.ctlRun(ctx, args...)
	if err != nil {
		return err
	}
	return json.Unmarshal(out, v)
}

// Stop stops the separate hub and the tower (SIGTERM, then SIGKILL after 10 s).
func (t *tower) Stop() {
	for i := len(t.procs) - 1; i >= 0; i-- {
		p := t.procs[i]
		p.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { p.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			p.Process.Kill()
			<-done
		}
	}
	for _, f := range t.logs {
		f.Close()
	}
}

// PrintHelp tells the newcomer how to look at the site at the tower; site
// is "" until the box has registered.
func (t *tower) PrintHelp(w io.Writer, site string) {
	ctl, _ := filepath.Rel(mustGetwd(), t.ctl)
	cfg, _ := filepath.Rel(mustGetwd(), t.path("skerryctl.json"))
	if site == "" {
		site = "SITE"
	}
	fmt.Fprintf(w, `
vm: tower https://127.0.0.1:%s (log %s), tenant demo; the box enrolls with the token in %s%s.
vm: skerryctl is logged in with its own config; in another terminal:
      export SKERRY_TOWER_CONFIG=%s
      %s tower sites list
      %s tower sites topics %s
      %s tower sites tail %s system/uplink-status
    or log in as yourself with the tower's first operator token:
      %s tower login --tower https://127.0.0.1:%s --token $(cat %s) --ca %s
`, t.port, t.path("tower.log"), t.tokenFile, t.uplinkNote(), cfg, ctl, ctl, site, ctl, site, ctl, t.port, t.path("data", "operator-token"), t.path("data", "ca.crt"))
}

// uplinkNote says where the box uplinks: the tower's topic commands show
// only what reached the tower's embedded hub.
func (t *tower) uplinkNote() string {
	if t.hubPort != "" {
		return fmt.Sprintf(" and uplinks to the separate hub on 127.0.0.1:%s (log %s; the tower's topic commands show nothing)", t.hubPort, t.path("hub.log"))
	}
	return fmt.Sprintf(" and uplinks to the tower's hub on 127.0.0.1:%s (%s:%s from the box)", t.uplink, guestHost, t.uplink)
}

func mustGetwd() string {
	wd, err := os.Getwd()
	if err != nil {
		return "/"
	}
	return wd
}

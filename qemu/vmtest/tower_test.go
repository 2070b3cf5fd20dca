package vmtest

import (
	"bytes"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// hostTower is a real tower process on host loopback. QEMU guests reach it
// at 10.0.2.2 (user-mode networking maps that to the host's loopback), so
// its certificate names that address too.
type hostTower struct {
	GuestURL string // https://10.0.2.2:PORT, for site configs
	CA       string // PEM
	ctl      string // skerryctl binary
	env      []string
	uplink   string // the embedded hub's host:port on loopback
}

// buildTool compiles one of this module's commands for the host.
func buildTool(t *testing.T, pkg string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
	return out
}

// startTower starts a tower built from this tree, with extra flags.
func startTower(t *testing.T, extra ...string) *hostTower {
	t.Helper()
	bin := buildTool(t, "github.com/skerry/skerry/services/cmd/tower")
	tw := &hostTower{ctl: buildTool(t, "github.com/skerry/skerry/tools/skerryctl")}
	dir := t.TempDir()
	// A free loopback port: bind, note it, release it for the tower.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	// And one for the embedded hub (not 8883: tests run side by side).
	if l, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	uplinkPort := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	args := append([]string{"-data", filepath.Join(dir, "data"), "-listen", "127.0.0.1:" + port, "-san", "10.0.2.2",
		"-report-interval", "5s", "-pending-retry", "5s", "-uplink-listen", "127.0.0.1:" + uplinkPort}, extra...)
	startLogged(t, exec.Command(bin, args...), filepath.Join(dir, "tower.log"), "tower")
	tokenFile := filepath.Join(dir, "data", "operator-token")
	var token []byte
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
		if token, err = os.ReadFile(tokenFile); err == nil && len(bytes.TrimSpace(token)) > 0 {
			if c, err := net.Dial("tcp", "127.0.0.1:"+port); err == nil {
				c.Close()
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("tower did not start: no %s or no listener", tokenFile)
		}
	}
	ca, err := os.ReadFile(filepath.Join(dir, "data", "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	tw.CA, tw.GuestURL = string(ca), "https://10.0.2.2:"+port
	tw.uplink = "127.0.0.1:" + uplinkPort
	tw.env = append(os.Environ(), "SKERRY_TOWER_CONFIG="+filepath.Join(dir, "skerryctl.json"))
	tw.run(t, "login", "--tower", "https://127.0.0.1:"+port, "--token", string(bytes.TrimSpace(token)), "--ca", filepath.Join(dir, "data", "ca.crt"))
	return tw
}

// run runs "skerryctl tower ARGS", as an operator would, and returns its
// output.
func (tw *hostTower) run(t *testing.T, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(tw.ctl, append([]string{"tower"}, args...)...)
	cmd.Env = tw.env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("skerryctl %v: %v\n%s%s", args, err, out, stderr.Bytes())
	}
	return out
}

// json runs skerryctl with -o json placed after the subcommand words and
// decodes the output into v.
func (tw *hostTower) json(t *testing.T, v any, args ...string) {
	t.Helper()
	out := tw.run(t, args...)
	if err := json.Unmarshal(out, v); err != nil {
		t.Fatalf("skerryctl %v: decode %s: %v", args, out, err)
	}
}

// startLogged starts cmd with its output in logFile, kills it when the
// test ends and then shows the log if the test failed.
func startLogged(t *testing.T, cmd *exec.Cmd, logFile, name string) {
	t.Helper()
	logf, err := os.Create(logFile)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			b, _ := os.ReadFile(logFile)
			t.Logf("%s's log:\n%s", name, b)
		}
	})
}

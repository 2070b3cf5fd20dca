// Package uplinktest runs a site's stream log, a hub and an uplink as real
// processes of the real binaries, for fault tests and the benchmark: each
// can be killed with SIGKILL and started again on the same data.
package uplinktest

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/skerry/skerry/services/agent"
	"github.com/skerry/skerry/services/streamlog/client"
	"github.com/skerry/skerry/services/tower/ca"
)

// Site is the site ID the rig's certificate carries.
const Site = "0a1b2c3d4e5f6071"

// Rig is a site stream log, a hub and an uplink in one work directory.
type Rig struct {
	Dir, Skerry, Tower string
	HubAddr            string
	DTLSAddr           string // the hub's DTLS address, after UseDTLS
	Log                *client.Client
	Token              string
	Stderr             io.Writer
	// HubWrap prefixes the hub's command line (e.g. ip netns exec NAME);
	// HubArgs are added to it.
	HubWrap, HubArgs []string

	streamlog, hub, uplink, mosquitto *exec.Cmd
	mosquittoConf                     string
	hubs                              []*Hub
}

// Build builds the skerry and tower binaries into dir.
func Build(dir string) (skerry, tower string, err error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", "", fmt.Errorf("build: no go on PATH: %w", err)
	}
	skerry, tower = filepath.Join(dir, "skerry"), filepath.Join(dir, "tower")
	for bin, pkg := range map[string]string{skerry: "./services/cmd/skerry", tower: "./services/cmd/tower"} {
		cmd := exec.Command(goBin, "build", "-o", bin, pkg)
		cmd.Dir = repoRoot()
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", "", fmt.Errorf("build %s: %v\n%s", pkg, err, out)
		}
	}
	return skerry, tower, nil
}

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "../../..")
}

// New prepares dir: a tower CA, the site's software identity signed by it,
// and a free loopback port for the hub. Binaries come from Build.
func New(dir, skerry, tower string, stderr io.Writer) (*Rig, error) {
	r := &Rig{Dir: dir, Skerry: skerry, Tower: tower, Stderr: stderr}
	if err := os.MkdirAll(r.path("ca"), 0o700); err != nil {
		return nil, err
	}
	authority, err := ca.LoadOrCreate(r.path("ca"), "test CA")
	if err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	cert, err := authority.SiteCert(Site, key.Public(), time.Hour)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	id := agent.Identity{Version: agent.IdentityVersion, Tower: "https://tower.invalid", SiteID: Site, Software: true,
		Key: der, Certificate: cert.Raw, CACertificate: authority.Cert.Raw, EnrolledAt: time.Now()}
	if err := id.Save(r.path("identity")); err != nil {
		return nil, err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r.HubAddr = l.Addr().String()
	l.Close()
	return r, nil
}

func (r *Rig) path(p string) string { return filepath.Join(r.Dir, p) }

// HubData is the hub's stream log directory.
func (r *Rig) HubData() string { return r.path("hub") }

// start runs a binary and waits until the file ready exists or a line of
// its stdout contains ready.
func (r *Rig) start(name string, readyLine string, readyFile string, args ...string) (*exec.Cmd, error) {
	cmd := exec.Command(name, args...)
	cmd.Stderr = r.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	lines := make(chan string, 16)
	go func() {
		s := bufio.NewScanner(out)
		for s.Scan() {
			select {
			case lines <- s.Text():
			default:
			}
		}
		close(lines)
	}()
	deadline := time.After(20 * time.Second)
	for {
		if readyFile != "" {
			if c, err := net.Dial("unix", readyFile); err == nil {
				c.Close()
				return cmd, nil
			}
		}
		select {
		case l, ok := <-lines:
			if !ok && readyLine != "" {
				cmd.Wait()
				return nil, fmt.Errorf("%s %s exited before it was ready", filepath.Base(name), args[0])
			}
			if readyLine != "" && strings.Contains(l, readyLine) {
				return cmd, nil
			}
		case <-time.After(20 * time.Millisecond):
		case <-deadline:
			cmd.Process.Kill()
			cmd.Wait()
			return nil, fmt.Errorf("%s %s not ready after 20 s", filepath.Base(name), args[0])
		}
	}
}

// StartStreamlog starts the site's stream log and connects Log to it.
func (r *Rig) StartStreamlog() error {
	sock := r.path("streamlog.sock")
	cmd, err := r.start(r.Skerry, "", sock, "streamlog", "-dir", r.path("streamlog"), "-socket", sock)
	if err != nil {
		return err
	}
	r.streamlog = cmd
	tok, err := os.ReadFile(r.path("streamlog/system.token"))
	if err != nil {
		return err
	}
	r.Token = strings.TrimSpace(string(tok))
	r.Log, err = client.New(sock, client.WithToken(r.Token))
	return err
}

// StartHub starts "tower hub" on HubAddr.
func (r *Rig) StartHub() error {
	args := append([]string{r.Tower, "hub", "-data", r.HubData(), "-ca-dir", r.path("ca"), "-listen", r.HubAddr}, r.HubArgs...)
	args = append(append([]string(nil), r.HubWrap...), args...)
	cmd, err := r.start(args[0], "hub serving", "", args[1:]...)
	r.hub = cmd
	return err
}

// StartUplink starts "skerry uplink" towards the hub, with the default
// rules and its status API on UplinkSocket; extra flags come last and win.
func (r *Rig) StartUplink(extra ...string) error {
	args := append([]string{"uplink", "-broker", r.HubAddr, "-identity", r.path("identity"),
		"-streamlog", r.path("streamlog.sock"), "-token-file", r.path("streamlog/system.token"),
		"-rules", r.path("rules.json"), "-socket", r.UplinkSocket()}, extra...)
	cmd := exec.Command(r.Skerry, args...)
	cmd.Stderr = r.Stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	r.uplink = cmd
	return nil
}

// UplinkSocket is the uplink's status API socket.
func (r *Rig) UplinkSocket() string { return r.path("uplink.sock") }

// IdentityDir holds the site's identity.json.
func (r *Rig) IdentityDir() string { return r.path("identity") }

// UplinkExited reports whether the uplink process has ended: it is gone
// or a zombie (nobody reaps it before Close).
func (r *Rig) UplinkExited() bool {
	if r.uplink == nil || r.uplink.ProcessState != nil {
		return true
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", r.uplink.Process.Pid))
	if err != nil {
		return true
	}
	// pid (comm) STATE ...: comm may hold spaces, so split after ')'.
	i := strings.LastIndexByte(string(stat), ')')
	return i < 0 || strings.HasPrefix(strings.TrimSpace(string(stat[i+1:])), "Z")
}

// UplinkPID is the uplink's process ID.
func (r *Rig) UplinkPID() int { return r.uplink.Process.Pid }

// HubPID is the hub's process ID.
func (r *Rig) HubPID() int { return r.hub.Process.Pid }

// KillHub and KillUplink send SIGKILL and reap the process.
func (r *Rig) KillHub() { kill(r.hub) }

// KillUplink: see KillHub.
func (r *Rig) KillUplink() { kill(r.uplink) }

// StopHub stops the hub cleanly (SIGTERM), so its store can be opened.
func (r *Rig) StopHub() error {
	if r.hub == nil || r.hub.Process == nil {
		return nil
	}
	r.hub.Process.Signal(syscall.SIGTERM)
	err := r.hub.Wait()
	r.hub = nil
	return err
}

// Close kills whatever still runs.
func (r *Rig) Close() {
	kill(r.uplink)
	kill(r.hub)
	kill(r.streamlog)
	kill(r.mosquitto)
	for _, h := range r.hubs {
		h.Kill()
	}
}

func kill(cmd *exec.Cmd) {
	if cmd == nil || cmd.Process == nil || cmd.ProcessState != nil {
		return
	}
	cmd.Process.Kill()
	cmd.Wait()
}

// WaitCaughtUp waits until the uplink's cursor of every topic in names is
// at the topic's end: the hub has stored everything.
func (r *Rig) WaitCaughtUp(ctx context.Context, names ...string) error {
	for {
		done := true
		for _, n := range names {
			info, err := r.Log.Topic(ctx, n)
			if err != nil {
				return err
			}
			cur, err := r.Log.Cursor(ctx, n, "uplink")
			if err != nil || cur.Offset < info.Next {
				done = false
			}
		}
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return errors.New("uplink did not catch up: " + ctx.Err().Error())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// UseMosquitto puts Debian's mosquitto between uplink and hub: it listens
// on HubAddr with the tower CA's server certificate, takes the client
// certificate's CN as user name, and lets a site use only sites/<site>/#
// and the hub (CN "hub") all of sites/#. The hub becomes its client.
func (r *Rig) UseMosquitto() error {
	authority, err := ca.LoadOrCreate(r.path("ca"), "test CA")
	if err != nil {
		return err
	}
	host, port, _ := net.SplitHostPort(r.HubAddr)
	cert, key, err := authority.ServerCert([]string{host})
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	dir := r.path("mosquitto")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	files := map[string][]byte{
		"ca.pem":     authority.CertPEM(),
		"server.pem": pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}),
		"server.key": pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
		"acl":        []byte("user hub\ntopic readwrite sites/#\n\npattern readwrite sites/%u/#\n"),
	}
	files["mosquitto.conf"] = fmt.Appendf(nil, `user root
per_listener_settings false
allow_anonymous false
persistence false
log_dest stderr
log_type error
log_type warning
listener %s %s
cafile %s/ca.pem
certfile %s/server.pem
keyfile %s/server.key
require_certificate true
use_identity_as_username true
acl_file %s/acl
`, port, host, dir, dir, dir, dir)
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return err
		}
	}
	r.mosquittoConf = filepath.Join(dir, "mosquitto.conf")
	r.HubArgs = append(r.HubArgs, "-broker", r.HubAddr)
	return r.StartMosquitto()
}

// StartMosquitto starts the broker and waits until it accepts connections.
func (r *Rig) StartMosquitto() error {
	cmd := exec.Command("mosquitto", "-c", r.mosquittoConf)
	cmd.Stderr = r.Stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	r.mosquitto = cmd
	for range 400 {
		if c, err := net.Dial("tcp", r.HubAddr); err == nil {
			c.Close()
			return nil
		}
		time.Sleep(25 * time.Millisecond)
	}
	return errors.New("mosquitto does not listen after 10 s")
}

// KillMosquitto sends SIGKILL to the broker.
func (r *Rig) KillMosquitto() { kill(r.mosquitto) }

package uplinktest

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// Bridge is the baseline users have today, for comparison with the
// uplink: a site-local mosquitto whose `connection` bridge (cleansession
// false, QoS 1, persistence on) carries records/# to the hub's mosquitto
// (persistence on). Both listen on loopback without TLS: the comparison is
// about what survives faults, not about authentication.
type Bridge struct {
	Dir                string
	SiteAddr, HubAddr  string
	Stderr             io.Writer
	site, hub          *exec.Cmd
	siteConf, hubConfs string
}

// NewBridge writes both brokers' configurations into dir. Persistence is
// on; with eager false mosquitto's default autosave (every 1800 s, and at a
// clean exit), with eager true its most durable setting: the database is
// written after every change (autosave_on_changes, autosave_interval 1).
func NewBridge(dir string, eager bool, stderr io.Writer) (*Bridge, error) {
	b := &Bridge{Dir: dir, Stderr: stderr}
	for _, p := range []*string{&b.SiteAddr, &b.HubAddr} {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		*p = l.Addr().String()
		l.Close()
	}
	_, sitePort, _ := net.SplitHostPort(b.SiteAddr)
	_, hubPort, _ := net.SplitHostPort(b.HubAddr)
	common := `user root
allow_anonymous true
persistence true
log_dest stderr
log_type error
`
	if eager {
		common += "autosave_on_changes true\nautosave_interval 1\n"
	}
	confs := map[string]string{
		"site": common + fmt.Sprintf(`persistence_location %s/
listener %s 127.0.0.1
connection hub
address %s
topic records/# out 1
cleansession false
clientid site-bridge
restart_timeout 1
`, filepath.Join(dir, "site"), sitePort, b.HubAddr),
		"hub": common + fmt.Sprintf("persistence_location %s/\nlistener %s 127.0.0.1\n", filepath.Join(dir, "hub"), hubPort),
	}
	for name, conf := range confs {
		if err := os.MkdirAll(filepath.Join(dir, name), 0o755); err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(dir, name+".conf"), []byte(conf), 0o644); err != nil {
			return nil, err
		}
	}
	b.siteConf, b.hubConfs = filepath.Join(dir, "site.conf"), filepath.Join(dir, "hub.conf")
	return b, nil
}

func (b *Bridge) startBroker(conf, addr string) (*exec.Cmd, error) {
	cmd := exec.Command("mosquitto", "-c", conf)
	cmd.Stderr = b.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	for range 400 {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return cmd, nil
		}
		time.Sleep(25 * time.Millisecond)
	}
	kill(cmd)
	return nil, errors.New("mosquitto does not listen after 10 s")
}

// StartSite starts the site's broker (and so its bridge).
func (b *Bridge) StartSite() (err error) {
	b.site, err = b.startBroker(b.siteConf, b.SiteAddr)
	return err
}

// StartHub starts the hub's broker.
func (b *Bridge) StartHub() (err error) {
	b.hub, err = b.startBroker(b.hubConfs, b.HubAddr)
	return err
}

// KillSite sends SIGKILL to the site's broker.
func (b *Bridge) KillSite() { kill(b.site) }

// KillHub sends SIGKILL to the hub's broker.
func (b *Bridge) KillHub() { kill(b.hub) }

// Close kills both brokers.
func (b *Bridge) Close() {
	kill(b.site)
	kill(b.hub)
}

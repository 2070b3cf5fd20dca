package uplinktest

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/skerry/skerry/services/api/uplinkapi"
	"github.com/skerry/skerry/services/streamlog/client"
)

// Hub is one more "tower hub" process beside the rig's own, for chains
// (site → hub → hub → top): the rig's hub gets -parent <Hub.Addr> in
// HubArgs. It shares the rig's CA.
type Hub struct {
	r          *Rig
	Addr, Data string
	Args       []string
	cmd        *exec.Cmd
}

// NewHub prepares a hub with its data in <dir>/<name> on a free loopback
// port; args are added to its command line (e.g. -id, -parent).
func (r *Rig) NewHub(name string, args ...string) (*Hub, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	addr := l.Addr().String()
	l.Close()
	h := &Hub{r: r, Addr: addr, Data: r.path(name), Args: args}
	r.hubs = append(r.hubs, h)
	return h, nil
}

// Start starts the hub and waits until it serves.
func (h *Hub) Start() error {
	args := append([]string{"hub", "-data", h.Data, "-ca-dir", h.r.path("ca"), "-listen", h.Addr}, h.Args...)
	cmd, err := h.r.start(h.r.Tower, "hub serving", "", args...)
	h.cmd = cmd
	return err
}

// Kill sends SIGKILL and reaps the hub.
func (h *Hub) Kill() { kill(h.cmd) }

// PID is the hub's process ID.
func (h *Hub) PID() int { return h.cmd.Process.Pid }

// Stop stops the hub cleanly (SIGTERM), so its store can be opened.
func (h *Hub) Stop() error {
	if h.cmd == nil || h.cmd.Process == nil || h.cmd.ProcessState != nil {
		return nil
	}
	h.cmd.Process.Signal(syscall.SIGTERM)
	return h.cmd.Wait()
}

// Log is a client of a running hub's stream log (its API socket in the
// data directory, with the system token).
func HubLog(data string) (*client.Client, error) {
	tok, err := os.ReadFile(filepath.Join(data, "system.token"))
	if err != nil {
		return nil, err
	}
	return client.New(filepath.Join(data, "streamlog.sock"), client.WithToken(strings.TrimSpace(string(tok))))
}

// Log is a client of the hub's stream log while it runs.
func (h *Hub) Log() (*client.Client, error) { return HubLog(h.Data) }

// WaitForwarded waits until every topic of each hub's stream log (data
// directories of running hubs) is forwarded: its "uplink" cursor is at its
// end. Topics for which keep says true are skipped.
func WaitForwarded(ctx context.Context, keep func(name string) bool, data ...string) error {
	for {
		done := true
		for _, d := range data {
			c, err := HubLog(d)
			if err != nil {
				done = false
				continue
			}
			infos, err := c.Topics(ctx, "")
			if err != nil {
				done = false
			}
			for _, info := range infos {
				// Downlink topics go to sites, not to the parent.
				if strings.HasPrefix(info.Name, uplinkapi.DownlinkTenant+"/") || keep != nil && keep(info.Name) {
					continue
				}
				cur, err := c.Cursor(ctx, info.Name, "uplink")
				if err != nil {
					cur.Offset = 0 // nothing forwarded yet
				}
				if cur.Offset < info.Next {
					done = false
				}
			}
		}
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			return errors.New("hubs did not forward everything: " + ctx.Err().Error())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// HubDownlink is the hub's downlink topic for the rig's site.
func HubDownlink() string { return uplinkapi.DownlinkTopic(Site) }

package vmtest

import (
	"encoding/json"
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/skerry/skerry/qemu"
	"github.com/skerry/skerry/services/api/towerapi"
	"github.com/skerry/skerry/services/api/uplinkapi"
	"github.com/skerry/skerry/services/uplink"
)

// hostHub is a standalone "tower hub" process on host loopback between a
// box and the tower, set up as an operator would: its key made here, its
// certificate issued by the tower (skerryctl tower hubs add), forwarding
// to the tower's embedded hub and fetching the tower's revocation list.
type hostHub struct {
	ID        string
	GuestAddr string // 10.0.2.2:PORT, the box's uplink.parent
}

// startHostHub starts a hub for the arch's box B.
func startHostHub(t *testing.T, tw *hostTower, arch string) hostHub {
	t.Helper()
	bin := buildTool(t, "github.com/skerry/skerry/services/cmd/tower")
	dir := t.TempDir()
	id := "vmhub-" + arch
	key, cert, ca := filepath.Join(dir, "hub.key"), filepath.Join(dir, "hub.crt"), filepath.Join(dir, "ca.crt")
	tw.run(t, "hubs", "add", id, "-key-out", key, "-cert-out", cert, "-ca-out", ca, "-host", "10.0.2.2", "-host", "127.0.0.1")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
	l.Close()
	startLogged(t, exec.Command(bin, "hub", "-data", filepath.Join(dir, "data"), "-listen", "127.0.0.1:"+port,
		"-cert", cert, "-key", key, "-ca-cert", ca, // served to sites
		"-id", id, "-parent", tw.uplink, "-parent-cert", cert, "-parent-key", key, // towards the tower
		"-tower", towerAPI(t, tw).base, "-ack-timeout", "10s"), filepath.Join(dir, "hub.log"), "hub "+id)
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if c, err := net.Dial("tcp", "127.0.0.1:"+port); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("hub %s never listened on 127.0.0.1:%s", id, port)
		}
	}
	return hostHub{ID: id, GuestAddr: "10.0.2.2:" + port}
}

// checkUplinkThroughHub checks that box B's records, uplinked to the
// hub on the host (its site config's uplink.parent), reach the tower: the
// operator reads the site's system/uplink-status there with skerryctl,
// from offset 0 in the site's offsets, each record carrying the hop
// header the tower adds to what a hub forwarded, the newest saying the
// uplink is connected to the hub as this site.
func checkUplinkThroughHub(t *testing.T, vm *qemu.VM, tw *hostTower, site string, hh hostHub) {
	t.Helper()
	topic := uplink.StatusTopic
	var last string
	for deadline := time.Now().Add(3 * time.Minute); time.Now().Before(deadline); time.Sleep(3 * time.Second) {
		var got towerapi.TopicRecords
		out, err := tw.try("sites", "read", site, topic, "-offset", "0", "-n", "100", "-o", "json")
		if err == nil {
			err = json.Unmarshal(out, &got)
		}
		if err != nil {
			last = err.Error()
			continue
		}
		st, ok := hubStatus(t, got, site, hh)
		if ok {
			t.Logf("box %s: %d uplink status records at the tower through hub %s; the site says connected to %s (from %s)", site, len(got.Records), hh.ID, st.Parent, st.ParentFrom)
			return
		}
		last = fmt.Sprintf("%d records, none says connected to %s", len(got.Records), hh.GuestAddr)
	}
	t.Errorf("the tower never showed %s of site %s uplinked through hub %s (%s); the uplink's log:\n%s", topic, site, hh.ID, last, serviceLogs(vm, "uplink"))
}

// hubStatus checks every record was forwarded by a hub and, as
// connectedStatus, the site's offsets from 0; it returns the newest status
// saying connected to the hub.
func hubStatus(t *testing.T, got towerapi.TopicRecords, site string, hh hostHub) (uplinkapi.Status, bool) {
	t.Helper()
	var plain towerRecords
	for i, r := range got.Records {
		if !slices.ContainsFunc(r.Headers, func(h towerapi.RecordHeader) bool { return h.Key == uplinkapi.HeaderHop }) {
			t.Fatalf("record %d of site %s at the tower has no %q header: it did not come through a hub (headers %+v)", i, site, uplinkapi.HeaderHop, r.Headers)
		}
		v, _ := json.Marshal(r.Value)
		plain.Records = append(plain.Records, struct {
			Offset uint64          `json:"offset"`
			Time   time.Time       `json:"time"`
			Key    json.RawMessage `json:"key"`
			Value  json.RawMessage `json:"value"`
		}{Offset: r.Offset, Time: r.Time, Value: v})
	}
	st, ok := connectedStatus(t, plain, site)
	return st, ok && strings.HasSuffix(st.Parent, hh.GuestAddr)
}

// try runs "skerryctl tower ARGS" and returns its output or its error,
// for polling.
func (tw *hostTower) try(args ...string) ([]byte, error) {
	cmd := exec.Command(tw.ctl, append([]string{"tower"}, args...)...)
	cmd.Env = tw.env
	out, err := cmd.Output()
	if ee, ok := err.(*exec.ExitError); ok {
		err = fmt.Errorf("skerryctl %v: %v: %s", args, err, ee.Stderr)
	}
	return out, err
}

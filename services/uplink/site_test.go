package uplink_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/skerry/skerry/qemu/testenv"
	"github.com/skerry/skerry/services/api/uplinkapi"
	"github.com/skerry/skerry/services/streamlog/wire"
	"github.com/skerry/skerry/services/uplink"
	"github.com/skerry/skerry/services/uplink/uplinktest"
)

// TestSiteUplink runs "skerry uplink" as init does (no -broker): before
// the box is registered it waits, registered without a parent it idles,
// and once the identity names a parent it sends there; all that time it
// stays up and its status API says why. Then, with the hub stopped
// (SIGSTOP), the status shows the lag in records and seconds, and after
// the hub resumes, the batch that went unanswered counted as resent.
func TestSiteUplink(t *testing.T) {
	testenv.Integration(t)
	dir := t.TempDir()
	skerry, tower, err := uplinktest.Build(dir)
	if err != nil {
		t.Fatal(err)
	}
	r, err := uplinktest.New(dir, skerry, tower, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	if err := r.StartStreamlog(); err != nil {
		t.Fatal(err)
	}
	if err := r.StartHub(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	const topic = "system/events"
	if _, err := r.Log.CreateTopic(ctx, topic, wire.TopicConfig{MaxBytes: 1 << 20}); err != nil {
		t.Fatal(err)
	}
	produceN(t, r, topic, 10)

	// The identity is not there yet: the agent has not registered.
	idDir := filepath.Join(dir, "agent")
	siteCfg := filepath.Join(dir, "site.json")
	writeFile(t, siteCfg, `{"version": 2, "uplink": {"rules": [{"match": "system/*", "uplink": true, "priority": 3}]}}`)
	if err := r.StartUplink("-broker", "", "-identity", idDir, "-site-config", siteCfg, "-poll", "200ms", "-ack-timeout", "3s"); err != nil {
		t.Fatal(err)
	}
	st := waitState(t, r, uplinkapi.StateNoIdentity)
	if ts, ok := find(st, topic); !ok || ts.LagRecords != 10 || ts.Priority != 3 {
		t.Errorf("before registration: topics %+v, want %s with 10 records of lag, priority 3 (the site config's rule)", st.Topics, topic)
	}

	// Registered, but the identity names no parent: idle, not exiting.
	id, err := os.ReadFile(filepath.Join(r.IdentityDir(), "identity.json"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(idDir, "identity.json"), string(id))
	waitState(t, r, uplinkapi.StateNoParent)
	time.Sleep(time.Second)
	if r.UplinkExited() {
		t.Fatal("the uplink exited without a parent; it must wait")
	}

	// The tower names the parent (identity.json's "uplink"): it connects
	// and sends everything.
	var m map[string]any
	if err := json.Unmarshal(id, &m); err != nil {
		t.Fatal(err)
	}
	m["uplink"] = r.HubAddr
	withParent, _ := json.Marshal(m)
	writeFile(t, filepath.Join(idDir, "identity.json"), string(withParent))
	st = waitState(t, r, uplinkapi.StateConnected)
	if st.Parent != r.HubAddr || st.ParentFrom != "tower" || st.Site != uplinktest.Site {
		t.Errorf("connected to %q from %q as %q, want %q from the tower as %q", st.Parent, st.ParentFrom, st.Site, r.HubAddr, uplinktest.Site)
	}
	st = waitTopic(t, r, topic, func(ts uplinkapi.TopicStatus) bool { return ts.RecordsAcked == 10 })
	ts, _ := find(st, topic)
	if ts.LagRecords != 0 || ts.LagSeconds != 0 || ts.RecordsSent != 10 || ts.BytesSent == 0 || ts.LastAck.IsZero() || ts.Retransmissions != 0 {
		t.Errorf("after sending: %+v, want no lag, 10 sent, bytes, a last ack, no resends", ts)
	}

	// The hub stops answering: what is produced now waits, and the status
	// says for how long.
	if err := syscall.Kill(r.HubPID(), syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	produceN(t, r, topic, 5)
	// Longer than -ack-timeout: the batch in flight goes unanswered.
	time.Sleep(4 * time.Second)
	ts, _ = find(status(t, r), topic)
	if ts.LagRecords != 5 || ts.LagSeconds < 3 {
		t.Errorf("with the hub stopped: lag %d records, %.1f s; want 5 records, at least 3 s", ts.LagRecords, ts.LagSeconds)
	}
	if err := syscall.Kill(r.HubPID(), syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	st = waitTopic(t, r, topic, func(ts uplinkapi.TopicStatus) bool { return ts.LagRecords == 0 && ts.RecordsSent >= 15 })
	if ts, _ = find(st, topic); ts.Retransmissions == 0 || ts.RecordsSent < 20 {
		t.Errorf("after the hub resumed: %+v; want the unanswered batch resent (retransmissions > 0, 20 or more records sent)", ts)
	}
	if st.LastError == "" {
		t.Error("no lastError after a session that timed out")
	}
	// The uplink's own status went up too, as a system topic.
	waitTopic(t, r, uplink.StatusTopic, func(ts uplinkapi.TopicStatus) bool { return ts.RecordsAcked > 0 })

	// The same figures for Prometheus.
	metrics := get(t, r, uplinkapi.MetricsPath)
	for _, want := range []string{
		fmt.Sprintf(`skerry_uplink_lag_records{parent=%q,topic=%q} 0`, r.HubAddr, topic),
		fmt.Sprintf(`skerry_uplink_retransmitted_batches_total{parent=%q,topic=%q} %d`, r.HubAddr, topic, ts.Retransmissions),
		fmt.Sprintf(`skerry_uplink_state{parent=%q,state="connected"} 1`, r.HubAddr),
		`skerry_uplink_last_ack_timestamp_seconds{`,
		`skerry_uplink_sent_bytes_total{`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s:\n%s", want, metrics)
		}
	}
}

// TestSiteUplinkDisabled: uplink.enabled false keeps everything on the
// site, and the status says so.
func TestSiteUplinkDisabled(t *testing.T) {
	testenv.Integration(t)
	r := newRig(t, nil)
	r.KillUplink()
	siteCfg := filepath.Join(r.Dir, "site.json")
	writeFile(t, siteCfg, `{"version": 2, "uplink": {"enabled": false}}`)
	if err := r.StartUplink("-broker", "", "-site-config", siteCfg); err != nil {
		t.Fatal(err)
	}
	produceN(t, r, topics[0], 3)
	st := waitState(t, r, uplinkapi.StateDisabled)
	if !strings.Contains(st.Reason, "uplink.enabled") {
		t.Errorf("reason %q does not name uplink.enabled", st.Reason)
	}
	time.Sleep(time.Second)
	for _, ts := range status(t, r).Topics {
		if ts.RecordsSent != 0 {
			t.Errorf("disabled uplink sent %+v", ts)
		}
	}
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	// Write and rename, as the agent does: the uplink never reads half.
	if err := os.WriteFile(path+".tmp", []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		t.Fatal(err)
	}
}

func produceN(t *testing.T, r *uplinktest.Rig, topic string, n int) {
	t.Helper()
	recs := make([]wire.Record, n)
	for i := range recs {
		recs[i] = wire.Record{Value: fmt.Appendf(nil, "record %d", i)}
	}
	if _, err := r.Log.Append(context.Background(), topic, "", 0, recs); err != nil {
		t.Fatal(err)
	}
}

func get(t *testing.T, r *uplinktest.Rig, path string) string {
	t.Helper()
	// No keep-alive: the server holds at most 64 connections, and a
	// transport per call would leave one idle each time.
	c := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true, DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", r.UplinkSocket())
	}}}
	resp, err := c.Get("http://uplink" + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s %v", path, resp.StatusCode, b, err)
	}
	return string(b)
}

func status(t *testing.T, r *uplinktest.Rig) uplinkapi.Status {
	t.Helper()
	var st uplinkapi.Status
	if err := json.Unmarshal([]byte(get(t, r, uplinkapi.StatusPath)), &st); err != nil {
		t.Fatal(err)
	}
	return st
}

// waitState waits for the uplink's status socket and the given state.
func waitState(t *testing.T, r *uplinktest.Rig, state string) uplinkapi.Status {
	t.Helper()
	return waitFor(t, r, "state "+state, func(st uplinkapi.Status) bool { return st.State == state })
}

func waitTopic(t *testing.T, r *uplinktest.Rig, topic string, ok func(uplinkapi.TopicStatus) bool) uplinkapi.Status {
	t.Helper()
	return waitFor(t, r, "topic "+topic, func(st uplinkapi.Status) bool {
		ts, found := find(st, topic)
		return found && ok(ts)
	})
}

func find(st uplinkapi.Status, topic string) (uplinkapi.TopicStatus, bool) {
	for _, ts := range st.Topics {
		if ts.Topic == topic {
			return ts, true
		}
	}
	return uplinkapi.TopicStatus{}, false
}

func waitFor(t *testing.T, r *uplinktest.Rig, what string, ok func(uplinkapi.Status) bool) uplinkapi.Status {
	t.Helper()
	var st uplinkapi.Status
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if r.UplinkExited() {
			t.Fatalf("waiting for %s: the uplink exited", what)
		}
		if _, err := os.Stat(r.UplinkSocket()); err != nil {
			continue
		}
		if st = status(t, r); ok(st) {
			return st
		}
	}
	t.Fatalf("waiting for %s: status is %+v", what, st)
	return st
}

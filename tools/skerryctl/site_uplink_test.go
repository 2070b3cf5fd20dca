package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/skerry/skerry/services/api/uplinkapi"
	"github.com/skerry/skerry/services/uplink"
)

func TestPrintUplink(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	st := &uplinkapi.Status{Site: "0123456789abcdef", Parent: "10.0.2.2:8883", ParentFrom: "tower", State: uplinkapi.StateConnected,
		Since: now.Add(-90 * time.Second), LastError: "no answer within 30s",
		Topics: []uplinkapi.TopicStatus{
			{Topic: "system/control", Priority: 10, RecordsSent: 12, BytesSent: 3400, RecordsAcked: 12, LastAck: now.Add(-2 * time.Second)},
			{Topic: "acme/telemetry", LagRecords: 5000, LagSeconds: 61.4, RecordsSent: 9000, BytesSent: 1 << 20, RecordsAcked: 8000, Retransmissions: 3, Error: "read the uplink cursor: boom"},
		}}
	var b bytes.Buffer
	if err := printUplink(&b, st, now); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"parent: 10.0.2.2:8883 (from tower)",
		"state:  connected for 1m30s",
		"last link error: no answer within 30s",
		"TOPIC           PRIO  LAG   LAG AGE  SENT  BYTES    STORED  RESENT  LAST ACK",
		"system/control  10    0     0s       12    3400     12      0       2s ago",
		"acme/telemetry  0     5000  1m1s     9000  1048576  8000    3       never",
		"acme/telemetry: read the uplink cursor: boom",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, b.String())
		}
	}
}

// TestRunUplink reads the uplink's real status API over a unix socket.
func TestRunUplink(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "uplink.sock")
	mon := uplink.NewMonitor(nil, uplink.DefaultRules())
	mon.SetState(uplinkapi.StateNoParent, "no parent: the tower named none")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &httptest.Server{Listener: l, Config: &http.Server{Handler: mon.Handler()}}
	srv.Start()
	defer srv.Close()
	var out, errOut bytes.Buffer
	if err := runUplink(context.Background(), &out, &errOut, []string{"-socket", sock, "-o", "json"}); err != nil {
		t.Fatalf("%v: %s", err, errOut.String())
	}
	if !strings.Contains(out.String(), `"state": "no_parent"`) {
		t.Errorf("-o json: got %s, want the state no_parent", out.String())
	}
	out.Reset()
	if err := runUplink(context.Background(), &out, &errOut, []string{"-socket", sock}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "why:    no parent: the tower named none") {
		t.Errorf("table: got %s, want the reason", out.String())
	}
	if err := runUplink(context.Background(), &out, &errOut, []string{"-socket", filepath.Join(t.TempDir(), "none")}); err == nil || !strings.Contains(err.Error(), "reach the uplink") {
		t.Errorf("no socket: got %v, want an error that says the uplink cannot be reached", err)
	}
}

package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/skerry/skerry/services/api/towerapi"
	"github.com/skerry/skerry/services/api/uplinkapi"
	"github.com/skerry/skerry/services/streamlog/wire"
	"github.com/skerry/skerry/services/tower"
	"github.com/skerry/skerry/services/tower/towertest"
)

// TestTowerSiteTopics: records a site sent to the tower's embedded hub
// are listed, read and tailed by skerryctl, with the site's offsets, and
// what the site wrote reaches the terminal escaped.
func TestTowerSiteTopics(t *testing.T) {
	tw, cli, try := towerCLI(t, tower.WithUplink("127.0.0.1:0"))
	cli("tenants", "create", "lab", "-allow-software-identity")
	var tok towerapi.EnrollTokenCreated
	json.Unmarshal([]byte(cli("tokens", "create", "-tenant", "lab", "-o", "json")), &tok)
	sw := towertest.NewSoftwareAgent(t, tw.URL, tw.CAPEM)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := sw.Enroll(ctx, tok.Token)
	if err != nil {
		t.Fatal(err)
	}
	cert := tls.Certificate{Certificate: [][]byte{res.Certificate}, PrivateKey: sw.Key}
	send := func(first uint64, values ...string) {
		t.Helper()
		b := &uplinkapi.Batch{Site: res.SiteID, Tenant: "lab", Topic: "data", From: first, Epoch: 1}
		for i, v := range values {
			b.Records = append(b.Records, wire.Record{Offset: first + uint64(i), Time: time.Now(), Key: []byte("k"), Value: []byte(v)})
		}
		if a, err := towertest.SendBatch(ctx, tw.UplinkAddr(), cert, tw.CAPEM, b); err != nil || a.Status != uplinkapi.StatusStored {
			t.Fatalf("send: %+v, %v", a, err)
		}
	}
	send(0, "zero", "one", "two\x1b[31mred\nline")

	out := cli("sites", "topics", "softbox")
	if !strings.Contains(out, "lab/data") || !strings.Contains(out, "0-2") {
		t.Errorf("sites topics:\n%s", out)
	}
	var ts []towerapi.SiteTopic
	if err := json.Unmarshal([]byte(cli("sites", "topics", res.SiteID, "-o", "json")), &ts); err != nil || len(ts) != 1 || ts[0].NextOffset != 3 {
		t.Errorf("sites topics -o json: %+v, %v", ts, err)
	}
	out = cli("sites", "read", "softbox", "lab/data", "-offset", "1", "-n", "5")
	if !strings.Contains(out, "1 ") || !strings.Contains(out, "one") || strings.Contains(out, "zero") {
		t.Errorf("sites read -offset 1:\n%s", out)
	}
	if strings.Contains(out, "\x1b") || !strings.Contains(out, `two\u001b[31mred\nline`) {
		t.Errorf("sites read does not escape what the site wrote:\n%q", out)
	}
	var page towerapi.TopicRecords
	if err := json.Unmarshal([]byte(cli("sites", "read", "softbox", "lab/data", "-o", "json")), &page); err != nil || len(page.Records) != 3 || page.Next != 3 {
		t.Errorf("sites read -o json: %+v, %v", page, err)
	}
	if _, err := try("sites", "read", "softbox", "nodata"); err == nil || !strings.Contains(err.Error(), "TENANT/NAME") {
		t.Errorf("sites read with a bad topic: %v, want an error naming TENANT/NAME", err)
	}
	if _, err := try("sites", "read", "softbox", "lab/nothing"); err == nil || !strings.Contains(err.Error(), "not_found") {
		t.Errorf("sites read of a topic never uplinked: %v, want not_found", err)
	}
	show := cli("sites", "show", "softbox")
	if !strings.Contains(show, "uplink lab/data") || !strings.Contains(show, "3 records, offsets 0-2") {
		t.Errorf("sites show lacks the uplink state:\n%s", show)
	}

	// tail starts at the end and prints what arrives, as JSON lines.
	tailCtx, stopTail := context.WithCancel(ctx)
	var stdout syncBuf
	done := make(chan error, 1)
	go func() {
		done <- run(tailCtx, &stdout, &stdout, []string{"tower", "sites", "tail", "softbox", "lab/data", "-o", "json"})
	}()
	time.Sleep(500 * time.Millisecond)
	send(3, "three")
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(stdout.String(), `"offset":3`) && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	stopTail()
	if err := <-done; err != nil {
		t.Errorf("tail: %v", err)
	}
	if got := stdout.String(); !strings.Contains(got, `"offset":3`) || strings.Contains(got, `"offset":2`) {
		t.Errorf("tail printed %q, want the record at offset 3 only", got)
	}
}

// syncBuf is written by the tail and read by the test.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

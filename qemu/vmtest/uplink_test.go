package vmtest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/skerry/skerry/qemu"
	"github.com/skerry/skerry/services/api/uplinkapi"
	"github.com/skerry/skerry/services/uplink"
)

// checkUplinkAtTower checks that a registered box's records reach the
// tower through its uplink, with no configuration beyond registration:
// the uplink records its own status in system/uplink-status from its
// start (before the box registered, too), and once connected to the
// parent the tower named, the tower's API serves that topic from offset
// 0, the last records saying the uplink is connected as this site.
func checkUplinkAtTower(t *testing.T, ctx context.Context, vm *qemu.VM, tw *hostTower, site string) {
	t.Helper()
	api := towerAPI(t, tw)
	tenant, name, _ := strings.Cut(uplink.StatusTopic, "/")
	path := "/v1/sites/" + url.PathEscape(site) + "/topics/" + tenant + "/" + name + "/records?offset=0&limit=100"
	var got towerRecords
	var last string
	for deadline := time.Now().Add(3 * time.Minute); time.Now().Before(deadline) && ctx.Err() == nil; time.Sleep(3 * time.Second) {
		if err := api.get(ctx, path, &got); err != nil {
			last = err.Error()
			continue
		}
		if st, ok := connectedStatus(t, got, site); ok {
			t.Logf("box %s: %d uplink status records at the tower; connected to %s (from %s)", site, len(got.Records), st.Parent, st.ParentFrom)
			return
		}
		last = fmt.Sprintf("%d records, none says connected", len(got.Records))
	}
	t.Errorf("the tower never showed %s of site %s with the uplink connected (%s); the uplink's log:\n%s", uplink.StatusTopic, site, last, serviceLogs(vm, "uplink"))
}

// towerRecords is the tower's answer to GET .../records.
type towerRecords struct {
	Records []struct {
		Offset uint64          `json:"offset"`
		Time   time.Time       `json:"time"`
		Key    json.RawMessage `json:"key"`
		Value  json.RawMessage `json:"value"`
	} `json:"records"`
	Next uint64 `json:"next"`
}

// connectedStatus checks the records are the site's offsets from 0 on,
// without a gap, and returns the newest status saying connected.
func connectedStatus(t *testing.T, got towerRecords, site string) (uplinkapi.Status, bool) {
	t.Helper()
	var found uplinkapi.Status
	ok := false
	for i, r := range got.Records {
		if r.Offset != uint64(i) {
			t.Fatalf("record %d at the tower has site offset %d: want the site's offsets from 0, in order", i, r.Offset)
		}
		var st uplinkapi.Status
		if err := json.Unmarshal(bytesOf(r.Value), &st); err != nil {
			t.Fatalf("record %d: value %s is not an uplink status: %v", i, r.Value, err)
		}
		if st.State == uplinkapi.StateConnected && st.Site == site {
			found, ok = st, true
		}
	}
	return found, ok
}

// bytesOf reads a JSON value that is either base64 bytes (Go's []byte) or
// the JSON itself.
func bytesOf(v json.RawMessage) []byte {
	var s string
	if json.Unmarshal(v, &s) == nil {
		if b, err := base64.StdEncoding.DecodeString(s); err == nil {
			return b
		}
		return []byte(s)
	}
	return v
}

// towerClient calls the tower's API as skerryctl is logged in.
type towerClient struct {
	base, token string
	c           *http.Client
}

func towerAPI(t *testing.T, tw *hostTower) *towerClient {
	t.Helper()
	var file string
	for _, e := range tw.env {
		if v, ok := strings.CutPrefix(e, "SKERRY_TOWER_CONFIG="); ok {
			file = v
		}
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("skerryctl's tower config: %v", err)
	}
	var cfg struct{ URL, Token, CA string }
	if err := json.Unmarshal(data, &cfg); err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM([]byte(cfg.CA))
	return &towerClient{base: cfg.URL, token: cfg.Token, c: &http.Client{Timeout: 10 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}}
}

func (c *towerClient) get(ctx context.Context, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	resp, err := c.c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", path, resp.Status, body)
	}
	return json.Unmarshal(body, v)
}

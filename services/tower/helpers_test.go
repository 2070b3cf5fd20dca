package tower_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/skerry/skerry/services/api/enrollapi"
	"github.com/skerry/skerry/services/api/towerapi"
	"github.com/skerry/skerry/services/tower/towertest"
)

// clock is a settable clock for the tower: expiry and online state are
// tested by moving it, not by sleeping.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Now()} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// wantRefused checks that err is a refusal with code and that the tower
// logged it.
func wantRefused(t *testing.T, tw *towertest.Tower, err error, code string) {
	t.Helper()
	var e *enrollapi.Error
	if !errors.As(err, &e) {
		t.Fatalf("got error %v, want a refusal with code %s", err, code)
	}
	if e.Code != code {
		t.Fatalf("got refusal %s (%s), want code %s", e.Code, e.Message, code)
	}
	if e.Message == "" {
		t.Errorf("refusal %s has no message", code)
	}
	if len(tw.Log.Lines("refused", "code="+code)) == 0 {
		t.Errorf("no log entry for refusal %s; log:\n%s", code, tw.Log.String())
	}
}

func mustTenant(t *testing.T, c *towerapi.Client, id string, software bool) {
	t.Helper()
	if err := c.Do(context.Background(), "POST", "/v1/tenants", towerapi.Tenant{ID: id, AllowSoftwareIdentity: software}, nil); err != nil {
		t.Fatalf("create tenant %s: %v", id, err)
	}
}

func mustToken(t *testing.T, c *towerapi.Client, in towerapi.EnrollTokenCreate) towerapi.EnrollTokenCreated {
	t.Helper()
	var out towerapi.EnrollTokenCreated
	if err := c.Do(context.Background(), "POST", "/v1/enrollment-tokens", in, &out); err != nil {
		t.Fatalf("create enrollment token: %v", err)
	}
	return out
}

func mustSite(t *testing.T, c *towerapi.Client, id string) towerapi.Site {
	t.Helper()
	var s towerapi.Site
	if err := c.Do(context.Background(), "GET", "/v1/sites/"+id, nil, &s); err != nil {
		t.Fatalf("get site %s: %v", id, err)
	}
	return s
}

func mustRegistered(t *testing.T, res enrollapi.EnrollResult, err error) enrollapi.EnrollResult {
	t.Helper()
	if err != nil {
		t.Fatalf("enroll: %v", err)
	}
	if res.Status != enrollapi.StatusRegistered || res.SiteID == "" || len(res.Certificate) == 0 {
		t.Fatalf("enroll: got %+v, want registered with a certificate", res)
	}
	return res
}

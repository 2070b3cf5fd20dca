package tower_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/skerry/skerry/services/api/enrollapi"
	"github.com/skerry/skerry/services/api/towerapi"
	"github.com/skerry/skerry/services/tower"
	"github.com/skerry/skerry/services/tower/towertest"
)

// Issue 11.6: a source that floods the enrollment endpoints is answered
// 429 rate_limited with Retry-After once past its burst, counted in the
// metrics, while operators are not limited.
func TestEnrollRateLimit(t *testing.T) {
	clk := newClock()
	tw := towertest.Start(t, tower.WithClock(clk.Now), tower.WithEnrollRateLimit(1, 5))
	sw := towertest.NewSoftwareAgent(t, tw.URL, tw.CAPEM)
	c := sw.HTTPClient()
	post := func() *http.Response {
		t.Helper()
		body, _ := json.Marshal(enrollapi.EnrollStart{Software: true, Token: "skenr_nothing"})
		resp, err := c.Post(tw.URL+enrollapi.PathEnrollStart, "application/json", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	for i := range 5 {
		if resp := post(); resp.StatusCode == http.StatusTooManyRequests {
			t.Fatalf("request %d of a burst of 5 was limited", i+1)
		}
	}
	resp := post()
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("6th request: %s, want 429", resp.Status)
	}
	if ra, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || ra < 1 {
		t.Errorf("Retry-After %q: want whole seconds", resp.Header.Get("Retry-After"))
	}
	// The operator API is not limited.
	op := tw.Client(t, "")
	for range 10 {
		if err := op.Do(context.Background(), "GET", "/v1/tenants", nil, &towerapi.List[towerapi.Tenant]{}); err != nil {
			t.Fatal(err)
		}
	}
	// A second later the source has one request again.
	clk.Advance(1100 * 1e6)
	if resp := post(); resp.StatusCode == http.StatusTooManyRequests {
		t.Errorf("after a second: still limited")
	}
	req, _ := http.NewRequest("GET", tw.URL+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+tw.Token)
	mresp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer mresp.Body.Close()
	b, _ := io.ReadAll(mresp.Body)
	if !strings.Contains(string(b), `tower_refusals_total{code="rate_limited"} 1`) {
		t.Errorf("metrics do not count the limited request")
	}
}

// The pending queue's cap answers 503 pending_full with Retry-After.
func TestPendingFull(t *testing.T) {
	towertest.RequireIntegration(t)
	tw := towertest.Start(t, tower.WithMaxPending(1))
	ctx := context.Background()
	a, b := tw.NewAgent(t), tw.NewAgent(t)
	if res, err := a.Enroll(ctx, ""); err != nil || res.Status != enrollapi.StatusPending {
		t.Fatalf("first box: %+v, %v; want pending", res, err)
	}
	_, err := b.Enroll(ctx, "")
	wantRefused(t, tw, err, enrollapi.CodePendingFull)
}

package tower_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/skerry/skerry/services/api/enrollapi"
	"github.com/skerry/skerry/services/api/towerapi"
	"github.com/skerry/skerry/services/tower/towertest"
)

func code(err error) string {
	if e, ok := err.(*enrollapi.Error); ok {
		return e.Code
	}
	if err != nil {
		return "error: " + err.Error()
	}
	return ""
}

// TestRoles checks what each role may do, against a real tower.
func TestRoles(t *testing.T) {
	tw := towertest.Start(t)
	op := tw.Client(t, "")
	ctx := context.Background()
	mustTenant(t, op, "acme", false)
	mustTenant(t, op, "other", false)
	newToken := func(role, tenant string) *towerapi.Client {
		var out towerapi.OperatorTokenCreated
		if err := op.Do(ctx, "POST", "/v1/operator-tokens", towerapi.OperatorTokenCreate{Role: role, Tenant: tenant}, &out); err != nil {
			t.Fatal(err)
		}
		return tw.Client(t, out.Token)
	}
	admin, reader := newToken("tenant-admin", "acme"), newToken("tenant-reader", "acme")
	mustToken(t, op, towerapi.EnrollTokenCreate{Tenant: "other"})

	tests := []struct {
		name   string
		c      *towerapi.Client
		method string
		path   string
		body   any
		want   string // error code, "" for success
	}{
		{"admin reads own tenant", admin, "GET", "/v1/tenants/acme", nil, ""},
		{"admin cannot see other tenant", admin, "GET", "/v1/tenants/other", nil, enrollapi.CodeNotFound},
		{"admin creates token in own tenant", admin, "POST", "/v1/enrollment-tokens", towerapi.EnrollTokenCreate{Tenant: "acme"}, ""},
		{"admin cannot create token in other tenant", admin, "POST", "/v1/enrollment-tokens", towerapi.EnrollTokenCreate{Tenant: "other"}, enrollapi.CodeNotFound},
		{"admin cannot create tenants", admin, "POST", "/v1/tenants", towerapi.Tenant{ID: "x"}, enrollapi.CodeForbidden},
		{"admin cannot allow software identity", admin, "PATCH", "/v1/tenants/acme", map[string]bool{"allowSoftwareIdentity": true}, enrollapi.CodeForbidden},
		{"admin cannot mint operator tokens", admin, "POST", "/v1/operator-tokens", towerapi.OperatorTokenCreate{Role: "operator"}, enrollapi.CodeForbidden},
		{"admin cannot see pending", admin, "GET", "/v1/pending", nil, enrollapi.CodeForbidden},
		{"reader lists tokens", reader, "GET", "/v1/enrollment-tokens", nil, ""},
		{"reader cannot create tokens", reader, "POST", "/v1/enrollment-tokens", towerapi.EnrollTokenCreate{Tenant: "acme"}, enrollapi.CodeForbidden},
		{"reader cannot claim", reader, "POST", "/v1/claims", towerapi.ClaimCreate{Tenant: "acme", SiteName: "a", Serial: "1"}, enrollapi.CodeForbidden},
		{"reader cannot list other tenant", reader, "GET", "/v1/sites?tenant=other", nil, enrollapi.CodeNotFound},
		{"no token", tw.Client(t, "skop_nope"), "GET", "/v1/tenants", nil, enrollapi.CodeUnauthenticated},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.c.Do(ctx, tc.method, tc.path, tc.body, nil)
			if got := code(err); got != tc.want {
				t.Errorf("%s %s: got %q (%v), want %q", tc.method, tc.path, got, err, tc.want)
			}
		})
	}

	// A tenant token lists only its tenant's tokens.
	var list towerapi.List[towerapi.EnrollToken]
	if err := reader.Do(ctx, "GET", "/v1/enrollment-tokens", nil, &list); err != nil {
		t.Fatal(err)
	}
	for _, tok := range list.Items {
		if tok.Tenant != "acme" {
			t.Errorf("reader sees token %s of tenant %s", tok.ID, tok.Tenant)
		}
	}

	// A revoked operator token stops working at once.
	var out towerapi.OperatorTokenCreated
	op.Do(ctx, "POST", "/v1/operator-tokens", towerapi.OperatorTokenCreate{Role: "tenant-reader", Tenant: "acme"}, &out)
	if err := op.Do(ctx, "POST", "/v1/operator-tokens/"+out.ID+"/revoke", nil, nil); err != nil {
		t.Fatal(err)
	}
	if err := tw.Client(t, out.Token).Do(ctx, "GET", "/v1/whoami", nil, nil); code(err) != enrollapi.CodeUnauthenticated {
		t.Errorf("revoked token: got %v, want unauthenticated", err)
	}
}

func TestPagination(t *testing.T) {
	tw := towertest.Start(t)
	c := tw.Client(t, "")
	ctx := context.Background()
	var want []string
	for i := range 7 {
		id := fmt.Sprintf("t%02d", i)
		mustTenant(t, c, id, false)
		want = append(want, id)
	}
	var got []string
	cursor, pages := "", 0
	for {
		var page towerapi.List[towerapi.Tenant]
		if err := c.Do(ctx, "GET", "/v1/tenants?limit=3&cursor="+cursor, nil, &page); err != nil {
			t.Fatal(err)
		}
		pages++
		for _, tn := range page.Items {
			got = append(got, tn.ID)
		}
		if cursor = page.NextCursor; cursor == "" {
			break
		}
	}
	if diff := cmp.Diff(want, got); diff != "" || pages != 3 {
		t.Errorf("pages of 3 (%d pages; -want +got):\n%s", pages, diff)
	}
	for _, q := range []string{"limit=0", "limit=1001", "limit=x", "cursor=!!"} {
		if err := c.Do(ctx, "GET", "/v1/tenants?"+q, nil, nil); code(err) != enrollapi.CodeBadRequest {
			t.Errorf("?%s: got %v, want bad_request", q, err)
		}
	}
}

// TestRequestChecks covers the refusals every endpoint shares: size limit,
// unknown fields, bad JSON, unknown routes.
func TestRequestChecks(t *testing.T) {
	tw := towertest.Start(t)
	hc := towertest.NewSoftwareAgent(t, tw.URL, tw.CAPEM).HTTPClient()
	ctx := context.Background()
	tests := []struct {
		name, method, path, body string
		status                   int
		code                     string
	}{
		{"too large", "POST", "/v1/enroll/start", `{"hostname":"` + strings.Repeat("a", enrollapi.MaxBodyBytes) + `"}`, 413, enrollapi.CodeTooLarge},
		{"unknown field", "POST", "/v1/tenants", `{"id":"a","colour":"red"}`, 400, enrollapi.CodeBadRequest},
		{"not json", "POST", "/v1/enroll/finish", `{`, 400, enrollapi.CodeBadRequest},
		{"trailing data", "POST", "/v1/tenants", `{"id":"a"} {}`, 400, enrollapi.CodeBadRequest},
		{"bad tenant id", "POST", "/v1/tenants", `{"id":"Not OK"}`, 400, enrollapi.CodeBadRequest},
		{"unknown route", "GET", "/v1/nothing", ``, 404, enrollapi.CodeNotFound},
		{"wrong method", "DELETE", "/v1/tenants", ``, 405, enrollapi.CodeMethodNotAllowed},
		{"wrong method, path with a parameter", "PUT", "/v1/sites/site-1", ``, 405, enrollapi.CodeMethodNotAllowed},
		{"status without certificate", "POST", enrollapi.PathStatus, `{}`, 401, enrollapi.CodeUnauthenticated},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequestWithContext(ctx, tc.method, tw.URL+tc.path, strings.NewReader(tc.body))
			req.Header.Set("Authorization", "Bearer "+tw.Token)
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status || !strings.Contains(string(body), `"code": "`+tc.code+`"`) {
				t.Errorf("got %d %s, want %d with code %q", resp.StatusCode, body, tc.status, tc.code)
			}
			if allow := resp.Header.Get("Allow"); (tc.status == 405) != (allow != "") {
				t.Errorf("Allow header %q with status %d", allow, resp.StatusCode)
			}
		})
	}
}

func TestMetrics(t *testing.T) {
	tw := towertest.Start(t)
	sw := towertest.NewSoftwareAgent(t, tw.URL, tw.CAPEM)
	sw.Enroll(context.Background(), "") // refused: no token
	// Without an operator token /metrics is refused (issue 11.6).
	resp, err := sw.HTTPClient().Get(tw.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("/metrics without a token: %s, want 401", resp.Status)
	}
	req, _ := http.NewRequest("GET", tw.URL+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+tw.Token)
	resp, err = sw.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, want := range []string{
		`tower_refusals_total{code="software_identity_not_allowed"} 1`,
		`tower_sites_online 0`,
		`tower_pending_entries 0`,
		`tower_http_request_duration_seconds_count{method="POST",route="/v1/enroll/start",status="4xx"} 1`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

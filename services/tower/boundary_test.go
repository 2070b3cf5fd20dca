package tower_test

import (
	"context"
	"strings"
	"testing"

	"github.com/skerry/skerry/services/api/enrollapi"
	"github.com/skerry/skerry/services/api/towerapi"
	"github.com/skerry/skerry/services/tower/towertest"
)

// tenantAdmin returns a client with a tenant-admin token of tenant.
func tenantAdmin(t *testing.T, tw *towertest.Tower, op *towerapi.Client, tenant string) (*towerapi.Client, towerapi.OperatorTokenCreated) {
	t.Helper()
	var tok towerapi.OperatorTokenCreated
	if err := op.Do(context.Background(), "POST", "/v1/operator-tokens", towerapi.OperatorTokenCreate{Name: tenant + "-admin", Role: "tenant-admin", Tenant: tenant}, &tok); err != nil {
		t.Fatal(err)
	}
	return tw.Client(t, tok.Token), tok
}

// Issue 11.1: a tenant can never make a box land in it that another
// tenant's token or claim speaks for, in any path of the policy.
func TestTenantBoundaryInEnrollment(t *testing.T) {
	towertest.RequireIntegration(t)
	tw := towertest.Start(t)
	op := tw.Client(t, "")
	ctx := context.Background()
	mustTenant(t, op, "a", false)
	mustTenant(t, op, "b", false)
	adminA, _ := tenantAdmin(t, tw, op, "a")
	adminB, _ := tenantAdmin(t, tw, op, "b")
	tokB := mustToken(t, op, towerapi.EnrollTokenCreate{Tenant: "b", MaxUses: 10})

	t.Run("tenant admin cannot claim a serial", func(t *testing.T) {
		err := adminA.Do(ctx, "POST", "/v1/claims", towerapi.ClaimCreate{Tenant: "a", SiteName: "stolen", Serial: "SN-1"}, nil)
		wantRefused(t, tw, err, enrollapi.CodeForbidden)
	})
	t.Run("serial claim loses to the box's own token", func(t *testing.T) {
		// Even an operator's serial claim into A does not take a box
		// whose token is B's.
		if err := op.Do(ctx, "POST", "/v1/claims", towerapi.ClaimCreate{Tenant: "a", SiteName: "by-serial", Serial: "SN-2"}, nil); err != nil {
			t.Fatal(err)
		}
		box := tw.NewAgent(t)
		in := box.StartRequest(tokB.Token)
		in.Serial = "SN-2"
		r, err := box.EnrollWith(ctx, in)
		res := mustRegistered(t, r, err)
		if s := mustSite(t, op, res.SiteID); s.Tenant != "b" {
			t.Errorf("box with B's token and a serial claimed into A landed in %q, want b", s.Tenant)
		}
	})
	t.Run("ek claim of another tenant loses to the box's own token", func(t *testing.T) {
		box := tw.NewAgent(t)
		if err := adminA.Do(ctx, "POST", "/v1/claims", towerapi.ClaimCreate{Tenant: "a", SiteName: "by-ek", EKHash: box.EKHash()}, nil); err != nil {
			t.Fatal(err)
		}
		r, err := box.Enroll(ctx, tokB.Token)
		res := mustRegistered(t, r, err)
		if s := mustSite(t, op, res.SiteID); s.Tenant != "b" {
			t.Errorf("box with B's token and an EK claim of A landed in %q, want b", s.Tenant)
		}
	})
	t.Run("claims of two tenants on one box", func(t *testing.T) {
		box := tw.NewAgent(t)
		for _, c := range []*towerapi.Client{adminB, adminA} {
			tenant := "b"
			if c == adminA {
				tenant = "a"
			}
			if err := c.Do(ctx, "POST", "/v1/claims", towerapi.ClaimCreate{Tenant: tenant, SiteName: "both", EKHash: box.EKHash()}, nil); err != nil {
				t.Fatalf("claim by %s: %v", tenant, err)
			}
		}
		_, err := box.Enroll(ctx, "")
		wantRefused(t, tw, err, enrollapi.CodeTenantConflict)
		if strings.Contains(err.Error(), `"a"`) || strings.Contains(err.Error(), "tenant a") || strings.Contains(err.Error(), "tenant b") {
			t.Errorf("refusal names a tenant: %v", err)
		}
	})
	t.Run("re-enrollment with another tenant's token", func(t *testing.T) {
		box := tw.NewAgent(t)
		if err := adminA.Do(ctx, "POST", "/v1/claims", towerapi.ClaimCreate{Tenant: "a", SiteName: "moved", EKHash: box.EKHash()}, nil); err != nil {
			t.Fatal(err)
		}
		r, err := box.Enroll(ctx, "")
		res := mustRegistered(t, r, err)
		if err := adminA.Do(ctx, "POST", "/v1/sites/"+res.SiteID+"/allow-reenroll", nil, nil); err != nil {
			t.Fatal(err)
		}
		_, err = box.Enroll(ctx, tokB.Token)
		wantRefused(t, tw, err, enrollapi.CodeTenantConflict)
	})
}

// Issue 11.2: refusals say nothing about other tenants: the same answer
// whether or not the thing exists elsewhere.
func TestNoLeakAcrossTenants(t *testing.T) {
	tw := towertest.Start(t)
	op := tw.Client(t, "")
	ctx := context.Background()
	mustTenant(t, op, "alpha", false)
	mustTenant(t, op, "bravo", false)
	adminA, _ := tenantAdmin(t, tw, op, "alpha")
	adminB, tokB := tenantAdmin(t, tw, op, "bravo")
	const ek = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

	// Bravo claims an EK first; Alpha's claim on it is answered as if
	// there were none.
	if err := adminB.Do(ctx, "POST", "/v1/claims", towerapi.ClaimCreate{Tenant: "bravo", SiteName: "secret-site", EKHash: ek}, nil); err != nil {
		t.Fatal(err)
	}
	var got towerapi.Claim
	if err := adminA.Do(ctx, "POST", "/v1/claims", towerapi.ClaimCreate{Tenant: "alpha", SiteName: "mine", EKHash: ek}, &got); err != nil {
		t.Errorf("claim on an EK another tenant claimed: %v; want it created as for any EK", err)
	}
	var list towerapi.List[towerapi.Claim]
	if err := adminA.Do(ctx, "GET", "/v1/claims", nil, &list); err != nil {
		t.Fatal(err)
	}
	for _, c := range list.Items {
		if c.Tenant != "alpha" {
			t.Errorf("alpha lists a claim of %s", c.Tenant)
		}
	}

	// Revoking Bravo's token by ID answers as for an ID that does not
	// exist.
	errOther := adminA.Do(ctx, "POST", "/v1/operator-tokens/"+tokB.ID+"/revoke", nil, nil)
	errNone := adminA.Do(ctx, "POST", "/v1/operator-tokens/op-0000000000000000/revoke", nil, nil)
	for _, err := range []error{errOther, errNone} {
		wantRefused(t, tw, err, enrollapi.CodeNotFound)
		if strings.Contains(err.Error(), "bravo") {
			t.Errorf("refusal names the other tenant: %v", err)
		}
	}
	if a, b := strings.ReplaceAll(errOther.Error(), tokB.ID, "ID"), strings.ReplaceAll(errNone.Error(), "op-0000000000000000", "ID"); a != b {
		t.Errorf("another tenant's token: %q; a token that does not exist: %q; want the same", a, b)
	}
	// And the token still works.
	var who map[string]any
	if err := adminB.Do(ctx, "GET", "/v1/whoami", nil, &who); err != nil {
		t.Errorf("bravo's token after alpha tried to revoke it: %v", err)
	}
	// Deleting Bravo's claim from Alpha looks like deleting nothing.
	err := adminA.Do(ctx, "DELETE", "/v1/claims/ek:"+ek+"?tenant=bravo", nil, nil)
	wantRefused(t, tw, err, enrollapi.CodeNotFound)
}

// Issue 11.4: operator-set text with control characters is refused.
func TestControlCharactersRefused(t *testing.T) {
	tw := towertest.Start(t)
	op := tw.Client(t, "")
	ctx := context.Background()
	mustTenant(t, op, "t1", false)
	for _, tc := range []struct{ name, text string }{
		{"nul", "a\x00b"},
		{"ansi", "\x1b[2J\x1b[31mred"},
		{"bidi override", "abc\u202edcba"},
		{"bidi isolate", "x\u2066y"},
		{"c1", "a\u009bb"},
		{"del", "a\x7fb"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := op.Do(ctx, "POST", "/v1/tenants", towerapi.Tenant{ID: "x-" + strings.ReplaceAll(tc.name, " ", "-"), Name: tc.text}, nil)
			wantRefused(t, tw, err, enrollapi.CodeBadRequest)
			name := tc.text
			err = op.Do(ctx, "PATCH", "/v1/tenants/t1", towerapi.TenantUpdate{Name: &name}, nil)
			wantRefused(t, tw, err, enrollapi.CodeBadRequest)
			err = op.Do(ctx, "POST", "/v1/enrollment-tokens", towerapi.EnrollTokenCreate{Tenant: "t1", Description: tc.text}, nil)
			wantRefused(t, tw, err, enrollapi.CodeBadRequest)
			err = op.Do(ctx, "POST", "/v1/operator-tokens", towerapi.OperatorTokenCreate{Name: tc.text, Role: "operator"}, nil)
			wantRefused(t, tw, err, enrollapi.CodeBadRequest)
			err = op.Do(ctx, "POST", "/v1/enrollment-tokens", towerapi.EnrollTokenCreate{Tenant: "t1", Labels: map[string]string{"k": tc.text}}, nil)
			wantRefused(t, tw, err, enrollapi.CodeBadRequest)
		})
	}
	// Plain Unicode is fine.
	if err := op.Do(ctx, "POST", "/v1/tenants", towerapi.Tenant{ID: "ok", Name: "Café Zürich — 東京"}, nil); err != nil {
		t.Errorf("a name with plain Unicode: %v", err)
	}
}

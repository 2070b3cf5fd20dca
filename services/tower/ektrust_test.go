package tower_test

import (
	"context"
	"testing"

	"github.com/skerry/skerry/services/api/enrollapi"
	"github.com/skerry/skerry/services/api/towerapi"
	"github.com/skerry/skerry/services/tower/towertest"
)

// Issue 11.5: only an EK certificate from a TPM maker the tower trusts
// makes a hardware identity; a TPM without one, or certified by a CA the
// tower does not trust, is a software identity, which a hardware-only
// tenant refuses.
func TestEKTrust(t *testing.T) {
	towertest.RequireIntegration(t)
	tw := towertest.Start(t) // trusts towertest.MakerRoots
	op := tw.Client(t, "")
	ctx := context.Background()
	mustTenant(t, op, "hw", false)
	mustTenant(t, op, "sw", true)
	hw := mustToken(t, op, towerapi.EnrollTokenCreate{Tenant: "hw", MaxUses: 10})
	sw := mustToken(t, op, towerapi.EnrollTokenCreate{Tenant: "sw", MaxUses: 10})

	for _, tc := range []struct {
		name         string
		tpm          func(t *testing.T) *towertest.SWTPM
		wantSoftware bool
	}{
		{"trusted maker", func(t *testing.T) *towertest.SWTPM { return towertest.NewSWTPM(t) }, false},
		{"no EK certificate", func(t *testing.T) *towertest.SWTPM { return towertest.NewUntrustedSWTPM(t, false) }, true},
		{"untrusted maker", func(t *testing.T) *towertest.SWTPM { return towertest.NewUntrustedSWTPM(t, true) }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := tw.AgentOn(t, tc.tpm(t))
			res, err := a.Enroll(ctx, hw.Token)
			if tc.wantSoftware {
				wantRefused(t, tw, err, enrollapi.CodeSoftwareNotOK)
				res, err = a.Enroll(ctx, sw.Token)
			}
			res = mustRegistered(t, res, err)
			if s := mustSite(t, op, res.SiteID); s.SoftwareIdentity != tc.wantSoftware || res.Software != tc.wantSoftware {
				t.Errorf("site %+v, result software %v: want software identity %v", s, res.Software, tc.wantSoftware)
			}
		})
	}

	t.Run("approval into a hardware-only tenant", func(t *testing.T) {
		a := tw.AgentOn(t, towertest.NewUntrustedSWTPM(t, false))
		res, err := a.Enroll(ctx, "")
		if err != nil || res.Status != enrollapi.StatusPending {
			t.Fatalf("enroll: %+v, %v; want pending", res, err)
		}
		var ps towerapi.List[towerapi.Pending]
		if err := op.Do(ctx, "GET", "/v1/pending", nil, &ps); err != nil {
			t.Fatal(err)
		}
		if len(ps.Items) != 1 || !ps.Items[0].SoftwareIdentity {
			t.Errorf("pending %+v: want the box shown as a software identity", ps.Items)
		}
		if err := op.Do(ctx, "POST", "/v1/pending/"+a.EKHash()+"/approve", towerapi.Approve{Tenant: "hw", SiteName: "soft"}, nil); err != nil {
			t.Fatal(err)
		}
		_, err = a.Enroll(ctx, "")
		wantRefused(t, tw, err, enrollapi.CodeSoftwareNotOK)
	})
}

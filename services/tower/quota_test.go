package tower_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/skerry/skerry/services/api/enrollapi"
	"github.com/skerry/skerry/services/api/towerapi"
	"github.com/skerry/skerry/services/api/workloadapi"
	"github.com/skerry/skerry/services/tower/towertest"
)

// TestTenantQuota: an operator sets a tenant's quota at the tower; it
// reaches the tenant's sites in their desired state (a held long-poll
// wakes), not another tenant's; the tenant's own admin may not set it; a
// bad quota is refused naming the field and changes nothing; {} removes
// it and the revision is the one before.
func TestTenantQuota(t *testing.T) {
	tw := towertest.Start(t)
	op := tw.Client(t, "")
	ctx := context.Background()
	mustTenant(t, op, "acme", true)
	mustTenant(t, op, "other", true)
	north := enrollSite(t, tw, op, "acme", nil)
	otherSite := enrollSite(t, tw, op, "other", nil)

	d0 := north.desired(t, "")
	if d0.Quotas == nil || len(d0.Quotas) != 0 {
		t.Fatalf("desired quotas before any: %#v, want {} (sent, empty)", d0.Quotas)
	}
	patch := func(c *towerapi.Client, q workloadapi.Resources) (towerapi.Tenant, error) {
		var out towerapi.Tenant
		err := c.Do(ctx, "PATCH", "/v1/tenants/acme", towerapi.TenantUpdate{Quota: &q}, &out)
		return out, err
	}
	q := workloadapi.Resources{CPU: "2", Memory: "512Mi", Pids: 256}

	got := make(chan enrollapi.Desired, 1)
	go func() {
		d, err := north.fetchDesired(d0.Revision)
		if err != nil {
			t.Error(err)
		}
		got <- d
	}()
	time.Sleep(300 * time.Millisecond) // the poll is held
	tn, err := patch(op, q)
	if err != nil {
		t.Fatal(err)
	}
	if tn.Quota == nil || *tn.Quota != q {
		t.Errorf("tenant after the update: quota %v, want %v", tn.Quota, q)
	}
	select {
	case d := <-got:
		if diff := cmp.Diff(map[string]workloadapi.Resources{"acme": q}, d.Quotas); diff != "" || d.Revision == d0.Revision {
			t.Errorf("north's desired state after the quota: revision %q (was %q), quotas (-want +got):\n%s", d.Revision, d0.Revision, diff)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the held long-poll did not wake within 5s of the quota")
	}
	if d := otherSite.desired(t, ""); len(d.Quotas) != 0 {
		t.Errorf("another tenant's site got quotas %v", d.Quotas)
	}

	// The tenant's own admin may not raise its quota.
	var admin towerapi.OperatorTokenCreated
	if err := op.Do(ctx, "POST", "/v1/operator-tokens", towerapi.OperatorTokenCreate{Role: "tenant-admin", Tenant: "acme"}, &admin); err != nil {
		t.Fatal(err)
	}
	_, err = patch(tw.Client(t, admin.Token), workloadapi.Resources{CPU: "64"})
	wantRefused(t, tw, err, enrollapi.CodeForbidden)

	// A bad quota names its field; the stored one stays.
	_, err = patch(op, workloadapi.Resources{Memory: "lots"})
	wantRefused(t, tw, err, enrollapi.CodeBadRequest)
	if !strings.Contains(err.Error(), "memory") {
		t.Errorf("bad quota refused with %q, want the field named", err)
	}
	if d := north.desired(t, ""); d.Quotas["acme"] != q {
		t.Errorf("after a refused quota: %v, want %v kept", d.Quotas, q)
	}

	// {} removes it: the sites' defaults apply again.
	if tn, err := patch(op, workloadapi.Resources{}); err != nil || tn.Quota != nil {
		t.Fatalf("remove the quota: %+v, %v", tn, err)
	}
	if d := north.desired(t, ""); len(d.Quotas) != 0 || d.Revision != d0.Revision {
		t.Errorf("after removing the quota: quotas %v, revision %q; want none and %q", d.Quotas, d.Revision, d0.Revision)
	}
}

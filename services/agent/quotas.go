package agent

import (
	"context"
	"net/http"

	"github.com/skerry/skerry/services/api/enrollapi"
)

// putQuotas hands the tower's tenant quotas to the workload service
// whole (PUT /v1/quotas): a tenant the tower no longer bounds gets the
// site's default again. A desired state without quotas (a tower that
// predates them) changes nothing. followDesired calls it with each
// answer, before the apps, so an app starts within its tenant's new
// quota.
func (w *workloadClient) putQuotas(ctx context.Context, d enrollapi.Desired) error {
	if d.Quotas == nil {
		return nil
	}
	return w.do(ctx, http.MethodPut, "/v1/quotas", d.Quotas, nil)
}

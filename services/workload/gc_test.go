package workload

import (
	"context"
	"testing"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/containerd/containerd/v2/core/snapshots"
)

// checkImagesCollected wants nothing left of the tenant's images once no
// app uses them: no image, no content blob, no snapshot.
func checkImagesCollected(t *testing.T, r *Runner, tenant string) {
	t.Helper()
	ctx := nsCtx(t.Context(), tenant)
	imgs, err := r.client.ImageService().List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, img := range imgs {
		t.Errorf("image %s is left although no app uses it", img.Name)
	}
	blobs := 0
	if err := r.client.ContentStore().Walk(ctx, func(content.Info) error { blobs++; return nil }); err != nil {
		t.Fatal(err)
	}
	snaps := 0
	if err := r.client.SnapshotService(r.o.snapshot).Walk(ctx, func(_ context.Context, _ snapshots.Info) error { snaps++; return nil }); err != nil {
		t.Fatal(err)
	}
	if blobs != 0 || snaps != 0 {
		t.Errorf("tenant %s keeps %d content blobs and %d snapshots; want none once no app uses its image", tenant, blobs, snaps)
	}
}

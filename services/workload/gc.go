package workload

import (
	"context"

	"github.com/containerd/containerd/v2/core/images"
)

// gcImages deletes the tenant's images that no container and no app
// uses: an app removed, or replaced by one with another image. The
// delete is synchronous, so containerd's garbage collector frees their
// content and snapshots before it returns (a pull in progress is safe:
// containerd's client pulls under a lease). Errors are logged: an image
// left over is retried at the next removal.
func (r *Runner) gcImages(ctx context.Context, tenant string) {
	r.imageMu.Lock()
	defer r.imageMu.Unlock()
	ctx = nsCtx(context.WithoutCancel(ctx), tenant)
	used := map[string]bool{}
	r.mu.Lock()
	for _, a := range r.apps {
		if a.spec.Tenant == tenant && a.spec.Image.Ref != "" {
			used[a.spec.Image.Ref] = true
		}
	}
	r.mu.Unlock()
	ctrs, err := r.client.Containers(ctx)
	if err != nil {
		r.log().Warn("image gc: list containers", "tenant", tenant, "err", err)
		return
	}
	for _, c := range ctrs {
		info, err := c.Info(ctx)
		if err != nil {
			r.log().Warn("image gc: container info", "tenant", tenant, "err", err)
			return
		}
		used[info.Image] = true
	}
	imgs, err := r.client.ImageService().List(ctx)
	if err != nil {
		r.log().Warn("image gc: list images", "tenant", tenant, "err", err)
		return
	}
	var unused []string
	for _, img := range imgs {
		if !used[img.Name] {
			unused = append(unused, img.Name)
		}
	}
	for i, name := range unused {
		var opts []images.DeleteOpt
		if i == len(unused)-1 {
			opts = append(opts, images.SynchronousDelete())
		}
		if err := r.client.ImageService().Delete(ctx, name, opts...); err != nil {
			r.log().Warn("image gc: delete image", "tenant", tenant, "image", name, "err", err)
			continue
		}
		r.log().Info("image gc: deleted an image no app uses", "tenant", tenant, "image", name)
	}
}

package workload

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/opencontainers/runtime-spec/specs-go"

	"github.com/skerry/skerry/services/api/workloadapi"
)

// specHash identifies a spec's content: a container made from another
// hash is replaced.
func specHash(s *workloadapi.AppSpec) string {
	b, _ := json.Marshal(s)
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// cpuPeriod is the CFS period the CPU limit is expressed in.
const cpuPeriod = 100000

// specOpts turns an app spec into the container's OCI spec: the image's
// config, then everything that makes it unprivileged and bounded.
func (r *Runner) specOpts(s *workloadapi.AppSpec, img containerd.Image) ([]oci.SpecOpts, error) {
	uid, gid, err := parseUser(s.User)
	if err != nil {
		return nil, err
	}
	opts := []oci.SpecOpts{
		oci.WithImageConfig(img),
		oci.WithHostname(s.Name),
		oci.WithUIDGID(uid, gid),
		// No capabilities at all, and no way to gain any: setuid binaries
		// in the image stay powerless.
		oci.WithCapabilities(nil),
		oci.WithAmbientCapabilities(nil),
		oci.WithNoNewPrivileges,
		oci.WithCgroup(filepath.Join(r.o.cgroupRoot, s.Tenant, s.Name)),
	}
	if len(s.Command) > 0 {
		opts = append(opts, oci.WithProcessArgs(s.Command...))
	}
	if len(s.Env) > 0 {
		env := make([]string, 0, len(s.Env))
		for k, v := range s.Env {
			env = append(env, k+"="+v)
		}
		sort.Strings(env)
		opts = append(opts, oci.WithEnv(env))
	}
	if s.ReadOnlyRoot {
		opts = append(opts, oci.WithRootFSReadonly())
	}
	if c := s.Resources.CPU; c != "" {
		milli, err := workloadapi.ParseCPU(c)
		if err != nil {
			return nil, err
		}
		opts = append(opts, oci.WithCPUCFS(milli*cpuPeriod/1000, cpuPeriod))
	}
	if m := s.Resources.Memory; m != "" {
		n, err := workloadapi.ParseSize(m)
		if err != nil {
			return nil, err
		}
		// No swap beyond the limit: a memory hog is killed in its cgroup.
		opts = append(opts, oci.WithMemoryLimit(uint64(n)), oci.WithMemorySwap(n))
	}
	if p := s.Resources.Pids; p > 0 {
		opts = append(opts, oci.WithPidsLimit(p))
	}
	mounts, err := r.volumeMounts(s, uid, gid)
	if err != nil {
		return nil, err
	}
	secrets, err := r.secretMounts(s, uid, gid)
	if err != nil {
		return nil, err
	}
	mounts = append(mounts, secrets...)
	if len(mounts) > 0 {
		opts = append(opts, oci.WithMounts(mounts))
	}
	return opts, nil
}

// volumeMounts creates the app's volume directories, owned by its user,
// and binds them in.
func (r *Runner) volumeMounts(s *workloadapi.AppSpec, uid, gid uint32) ([]specs.Mount, error) {
	var ms []specs.Mount
	for _, v := range s.Volumes {
		dir := filepath.Join(r.o.volumeRoot, s.Tenant, s.Name, v.Name)
		if err := os.MkdirAll(dir, 0o750); err != nil {
			return nil, fmt.Errorf("create volume %s: %w", v.Name, err)
		}
		if err := os.Chown(dir, int(uid), int(gid)); err != nil {
			return nil, fmt.Errorf("create volume %s: %w", v.Name, err)
		}
		opt := []string{"rbind", "nosuid", "nodev", "noexec"}
		if v.ReadOnly {
			opt = append(opt, "ro")
		} else {
			opt = append(opt, "rw")
		}
		ms = append(ms, specs.Mount{Destination: v.Path, Type: "bind", Source: dir, Options: opt})
	}
	return ms, nil
}

// parseUser reads "UID" or "UID:GID" (checked by the spec already).
func parseUser(u string) (uint32, uint32, error) {
	us, gs, ok := strings.Cut(u, ":")
	uid, err := strconv.ParseUint(us, 10, 32)
	if err != nil {
		return 0, 0, fmt.Errorf("user %q: %w", u, err)
	}
	gid := uid
	if ok {
		if gid, err = strconv.ParseUint(gs, 10, 32); err != nil {
			return 0, 0, fmt.Errorf("user %q: %w", u, err)
		}
	}
	return uint32(uid), uint32(gid), nil
}

// ensureImage returns the app's image, importing the archive or pulling
// the reference when the tenant's namespace does not have it yet, and
// unpacked for the snapshotter.
func (r *Runner) ensureImage(ctx context.Context, s *workloadapi.AppSpec) (containerd.Image, error) {
	if s.Image.Archive != "" {
		f, err := os.Open(s.Image.Archive)
		if err != nil {
			return nil, fmt.Errorf("open image archive: %w", err)
		}
		defer f.Close()
		imgs, err := r.client.Import(ctx, f)
		if err != nil {
			return nil, fmt.Errorf("import %s: %w", s.Image.Archive, err)
		}
		if len(imgs) != 1 {
			return nil, fmt.Errorf("import %s: the archive holds %d images, want 1", s.Image.Archive, len(imgs))
		}
		img := containerd.NewImage(r.client, imgs[0])
		if err := img.Unpack(ctx, r.o.snapshot); err != nil {
			return nil, fmt.Errorf("unpack %s: %w", imgs[0].Name, err)
		}
		return img, nil
	}
	if img, err := r.client.GetImage(ctx, s.Image.Ref); err == nil {
		if ok, _ := img.IsUnpacked(ctx, r.o.snapshot); ok {
			return img, nil
		}
	}
	res, auth := r.resolver(ctx, s.Tenant)
	img, err := r.client.Pull(ctx, s.Image.Ref, containerd.WithPullUnpack, containerd.WithPullSnapshotter(r.o.snapshot),
		containerd.WithResolver(res))
	if err != nil {
		return nil, fmt.Errorf("pull %s: %w", s.Image.Ref, auth.explainAuth(s.Image.Ref, explainPull(s.Image.Ref, err)))
	}
	return img, nil
}

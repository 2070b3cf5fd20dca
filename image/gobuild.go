package image

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Binary is one program built from this module (or a module it pins in
// go.mod) for the board's architecture.
type Binary struct {
	Name   string // file name in the image
	Pkg    string // Go package path to build
	Dest   string // directory in the image
	CGO    bool   // runc needs cgo (its nsenter is C)
	Tags   string
	XFlags []string // extra -X assignments
}

// Binaries is everything that goes into the image. containerd, its shim and
// runc are built from the versions go.mod pins as tools.
func Binaries(version string) []Binary {
	x := []string{"main.version=" + version}
	return []Binary{
		{Name: "init", Pkg: "./init", Dest: "/", XFlags: x},
		{Name: "skerry", Pkg: "./services/cmd/skerry", Dest: "/usr/bin", XFlags: x},
		// The workload service links containerd's client, which would
		// double skerry's size and every service's memory: its own binary.
		// grpcnotrace: without gRPC's x/net/trace debug pages (and the
		// html/template they bring), 0.4 MiB less RSS (docs/benchmarks.md,
		// "What skerry-workload links").
		{Name: "skerry-workload", Pkg: "./services/cmd/skerry-workload", Dest: "/usr/bin", Tags: "grpcnotrace"},
		// Sites are not Kubernetes nodes: CRI and tracing are compiled out
		// (39 MB -> 31 MB), with the snapshotters a site does not use.
		{Name: "containerd", Pkg: "github.com/containerd/containerd/v2/cmd/containerd", Dest: "/usr/bin", Tags: "no_btrfs no_devmapper no_zfs no_aufs no_cri no_tracing"},
		{Name: "containerd-shim-runc-v2", Pkg: "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2", Dest: "/usr/bin"},
		// seccomp: libseccomp (Debian's libseccomp-dev for the arch,
		// installed by ci/install-deps) linked in statically, so the
		// workload service's containers get a syscall filter.
		{Name: "runc", Pkg: "github.com/opencontainers/runc", Dest: "/usr/bin", CGO: true, Tags: "netgo osusergo seccomp"},
	}
}

// GoBuild builds bin for arch into outDir and returns the file's path.
// Builds are reproducible: -trimpath, no build id, no VCS stamping.
func GoBuild(ctx context.Context, moduleDir, arch string, bin Binary, outDir string) (string, error) {
	out := filepath.Join(outDir, bin.Name)
	ldflags := "-s -w -buildid="
	for _, x := range bin.XFlags {
		ldflags += " -X " + x
	}
	env := append(os.Environ(), "GOOS=linux", "GOARCH="+arch, "GOFLAGS=-mod=mod")
	if bin.CGO {
		env = append(env, "CGO_ENABLED=1")
		if cc := crossCC(arch); cc != "" {
			// The C libraries (libseccomp) come from Debian's multiarch
			// packages for the target: /usr/lib/<triplet>.
			env = append(env, "CC="+cc, "PKG_CONFIG_LIBDIR=/usr/lib/"+strings.TrimSuffix(cc, "-gcc")+"/pkgconfig")
		}
		// A static binary needs no libc in the image.
		ldflags += " -linkmode external -extldflags=-static"
	} else {
		env = append(env, "CGO_ENABLED=0")
	}
	args := []string{"build", "-trimpath", "-buildvcs=false", "-ldflags", ldflags, "-o", out}
	if bin.Tags != "" {
		args = append(args, "-tags", bin.Tags)
	}
	cmd := exec.CommandContext(ctx, "go", append(args, bin.Pkg)...)
	cmd.Dir = moduleDir
	cmd.Env = env
	if b, err := cmd.CombinedOutput(); err != nil {
		hint := ""
		if bin.CGO {
			hint = " (cgo: is the C toolchain and libseccomp-dev for " + arch + " installed? run ci/install-deps)"
		}
		return "", fmt.Errorf("go build %s for %s%s: %v\n%s", bin.Pkg, arch, hint, err, b)
	}
	return out, nil
}

// crossCC is the C compiler for arch when it is not the host's.
func crossCC(arch string) string {
	host, _ := exec.Command("go", "env", "GOHOSTARCH").Output()
	if strings.TrimSpace(string(host)) == arch {
		return ""
	}
	switch arch {
	case "arm64":
		return "aarch64-linux-gnu-gcc"
	case "amd64":
		return "x86_64-linux-gnu-gcc"
	}
	return ""
}

// ModuleVersion returns the version go.mod selects for a module.
func ModuleVersion(ctx context.Context, moduleDir, mod string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Version}}", mod)
	cmd.Dir = moduleDir
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go list -m %s: %w", mod, err)
	}
	return strings.TrimSpace(string(out)), nil
}

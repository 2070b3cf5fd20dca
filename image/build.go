package image

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/skerry/skerry/board"
	"github.com/skerry/skerry/services/contract"
	"github.com/skerry/skerry/services/siteconfig"
)

// Output file names in the board's output directory.
const (
	VmlinuzFile  = "vmlinuz"
	InitrdFile   = "initrd.zst"
	DiskFile     = "disk.img"
	ManifestFile = "manifest.json"
)

// Builder builds one board's image.
type Builder struct {
	Board      *board.Board
	OutDir     string // outputs: OutDir/vmlinuz, initrd.zst, disk.img, manifest.json
	CacheDir   string // downloads and extracted packages, kept between builds
	ModuleDir  string // root of this Go module
	Version    string
	SiteConfig string    // optional site.json to bake in; default config otherwise
	Progress   io.Writer // one line per step
}

type step struct {
	name string
	fn   func(ctx context.Context) error
}

// Build runs every step in order, reporting progress; an error names the
// step that failed.
func (b *Builder) Build(ctx context.Context) (*Manifest, error) {
	bd := b.Board
	apt := &Apt{CacheDir: b.CacheDir}
	work := filepath.Join(b.OutDir, "work")
	m := &Manifest{Board: bd.Name, Arch: bd.Arch, Version: b.Version, GoVersion: runtime.Version()}
	tree := NewTree()
	var kernel *Kernel
	var built map[string]string
	bins := map[string]string{}

	steps := []step{
		{"resolve and fetch kernel " + bd.Kernel.Package + ":" + bd.Arch, func(ctx context.Context) error {
			p, err := apt.ResolveKernel(ctx, bd.Kernel.Package, bd.Arch)
			if err != nil {
				return err
			}
			if kernel, err = FetchKernel(ctx, apt, p); err != nil {
				return err
			}
			m.Kernel, m.KernelRelease = p, kernel.Release
			b.logf("      kernel %s (%s)", p, kernel.Release)
			return nil
		}},
	}
	if len(bd.Kernel.Build) > 0 {
		steps = append(steps, step{"build kernel modules missing from Debian's kernel", func(ctx context.Context) error {
			var err error
			built, err = BuildModules(ctx, apt, bd, kernel.Package, filepath.Join(b.CacheDir, "kmod"), func(s string) { b.logf("      %s", s) })
			if err != nil {
				return err
			}
			for name, ko := range built {
				if err := kernel.AddModule(name, ko); err != nil {
					return err
				}
				m.BuiltModules = append(m.BuiltModules, name)
			}
			return nil
		}})
	}
	steps = append(steps, step{"trim kernel modules and run depmod", func(ctx context.Context) error {
		dst := filepath.Join(work, "modules")
		keep, err := kernel.TrimModules(ctx, bd.Kernel.Modules, dst)
		if err != nil {
			return err
		}
		m.Modules = keep
		b.logf("      %d modules for %d requested", len(keep), len(bd.Kernel.Modules))
		return tree.AddDir(dst, "/")
	}})
	for _, bin := range Binaries(b.Version) {
		steps = append(steps, step{"build " + bin.Name + " for " + bd.Arch, func(ctx context.Context) error {
			p, err := GoBuild(ctx, b.ModuleDir, bd.Arch, bin, filepath.Join(work, "bin"))
			if err != nil {
				return err
			}
			bins[bin.Name] = p
			tree.Add(Entry{Path: filepath.Join(bin.Dest, bin.Name), Mode: 0o755, Source: p})
			version := b.Version
			if mod := toolModule(bin.Pkg); mod != "" {
				if version, err = ModuleVersion(ctx, b.ModuleDir, mod); err != nil {
					return err
				}
			}
			fi, err := os.Stat(p)
			if err != nil {
				return err
			}
			m.Components = append(m.Components, Component{Name: bin.Name, Version: version, Size: fi.Size()})
			return nil
		}})
	}
	siteJSON := filepath.Join(work, "site.json")
	steps = append(steps,
		step{"add userland (mke2fs, e2fsck) from Debian", func(ctx context.Context) error {
			pkgs, err := AddUserland(ctx, apt, tree, bd.Arch, bd.Triplet())
			m.Packages = append(m.Packages, pkgs...)
			return err
		}},
		step{"write initramfs", func(ctx context.Context) error {
			if err := b.addConfig(tree, m, siteJSON); err != nil {
				return err
			}
			return b.writeInitramfs(tree, m)
		}},
		step{"write GPT disk image with systemd-boot", func(ctx context.Context) error {
			return b.writeDisk(ctx, apt, kernel, siteJSON, work, m)
		}},
		step{"write manifest", func(ctx context.Context) error {
			m.Files = nil
			for _, name := range []string{VmlinuzFile, InitrdFile, DiskFile} {
				f, err := fileInfo(name, filepath.Join(b.OutDir, name))
				if err != nil {
					return err
				}
				m.Files = append(m.Files, f)
			}
			return m.write(filepath.Join(b.OutDir, ManifestFile))
		}},
	)

	if err := os.MkdirAll(work, 0o755); err != nil {
		return nil, err
	}
	total := time.Now()
	for i, s := range steps {
		start := time.Now()
		b.logf("[%d/%d] %s", i+1, len(steps), s.name)
		if err := s.fn(ctx); err != nil {
			return nil, fmt.Errorf("step %d/%d (%s) failed: %w", i+1, len(steps), s.name, err)
		}
		b.logf("      done in %.1fs", time.Since(start).Seconds())
	}
	b.logf("image for %s built in %.0fs: %s", bd.Name, time.Since(total).Seconds(), b.OutDir)
	return m, nil
}

func (b *Builder) logf(format string, args ...any) {
	if b.Progress != nil {
		fmt.Fprintf(b.Progress, format+"\n", args...)
	}
}

// toolModule maps a pinned tool package to its module, for its version.
func toolModule(pkg string) string {
	switch {
	case pkg == "github.com/opencontainers/runc":
		return pkg
	case filepath.Dir(filepath.Dir(pkg)) == "github.com/containerd/containerd/v2":
		return "github.com/containerd/containerd/v2"
	}
	return ""
}

// addConfig bakes the release file, the site config and the few files of
// /etc into the tree, and the mount points init needs.
func (b *Builder) addConfig(t *Tree, m *Manifest, siteJSON string) error {
	cfg := siteconfig.Default()
	if b.SiteConfig != "" {
		var err error
		if cfg, err = siteconfig.Load(b.SiteConfig); err != nil {
			return err
		}
	}
	site, err := cfg.Marshal()
	if err != nil {
		return err
	}
	if err := os.WriteFile(siteJSON, site, 0o644); err != nil {
		return err
	}
	rel, err := json.MarshalIndent(contract.Release{Version: b.Version, Board: b.Board.Name, Arch: b.Board.Arch, Kernel: m.KernelRelease}, "", "  ")
	if err != nil {
		return err
	}
	t.Add(Entry{Path: contract.ReleaseFile, Mode: 0o444, Data: append(rel, '\n')})
	t.Add(Entry{Path: contract.SiteConfigFile, Mode: 0o444, Data: site})
	t.Add(Entry{Path: contract.ModulesFile, Mode: 0o444, Data: []byte(strings.Join(b.Board.Kernel.Modules, "\n") + "\n")})
	t.Add(Entry{Path: "/etc/passwd", Mode: 0o644, Data: []byte("root:x:0:0:root:/root:/usr/bin/false\n")})
	t.Add(Entry{Path: "/etc/group", Mode: 0o644, Data: []byte("root:x:0:\n")})
	for _, d := range []string{"/proc", "/sys", "/dev", "/run", "/tmp", "/perm", "/boot", "/root", "/var", "/mnt"} {
		t.Add(Entry{Path: d, Mode: fs.ModeDir | 0o755})
	}
	t.Add(Entry{Path: "/tmp", Mode: fs.ModeDir | fs.ModeSticky | 0o777})
	// The kernel opens /dev/console for init before anything is mounted.
	t.Add(Entry{Path: "/dev/console", Mode: fs.ModeDevice | fs.ModeCharDevice | 0o600, Major: 5, Minor: 1})
	t.Add(Entry{Path: "/bin", Mode: fs.ModeSymlink | 0o777, Link: "usr/bin"})
	return nil
}

// writeInitramfs writes the zstd-compressed cpio. The encoder runs with one
// goroutine and fixed settings so the same tree gives the same bytes.
func (b *Builder) writeInitramfs(t *Tree, m *Manifest) error {
	out := filepath.Join(b.OutDir, InitrdFile)
	f, err := os.Create(out + ".tmp")
	if err != nil {
		return err
	}
	defer f.Close()
	cw := &countWriter{w: f}
	enc, err := zstd.NewWriter(cw, zstd.WithEncoderLevel(zstd.SpeedBetterCompression), zstd.WithEncoderConcurrency(1))
	if err != nil {
		return err
	}
	n, err := t.WriteCPIO(enc)
	if err != nil {
		return err
	}
	if err := enc.Close(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	m.Initramfs = Initramfs{Uncompressed: n, Compressed: cw.n, Entries: len(t.entries) + 1}
	b.logf("      %d entries, %.1f MB, %.1f MB compressed", m.Initramfs.Entries, float64(n)/1e6, float64(cw.n)/1e6)
	return os.Rename(out+".tmp", out)
}

func (b *Builder) writeDisk(ctx context.Context, apt *Apt, k *Kernel, siteJSON, work string, m *Manifest) error {
	bd := b.Board
	p, err := apt.Resolve(ctx, bd.EFI.Package, bd.Arch)
	if err != nil {
		return err
	}
	deb, err := apt.Download(ctx, p)
	if err != nil {
		return err
	}
	dir := filepath.Join(b.CacheDir, "efi", bd.Arch)
	if err := Extract(ctx, deb, dir); err != nil {
		return err
	}
	m.Packages = append(m.Packages, p)
	vmlinuz := filepath.Join(b.OutDir, VmlinuzFile)
	if err := copyFile(k.Vmlinuz(), vmlinuz, 0o644); err != nil {
		return err
	}
	files, err := ESPFiles(work, filepath.Join(dir, bd.EFI.Loader), bd.EFI.RemovablePath, vmlinuz,
		filepath.Join(b.OutDir, InitrdFile), siteJSON, "Skerry "+b.Version+" ("+bd.Name+")", bd.Kernel.Cmdline)
	if err != nil {
		return err
	}
	return WriteDisk(ctx, filepath.Join(b.OutDir, DiskFile), DiskSpec{
		ESPMiB: bd.Disk.ESPMiB, PermMiB: bd.Disk.PermMiB, ESP: files, Seed: bd.Name + "/" + b.Version,
	})
}

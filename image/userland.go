package image

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Userland is the little C userland the image carries, from Debian's
// packages for the board's arch: init formats and checks /perm with them.
var Userland = struct {
	Packages []string
	Files    []string // paths inside the packages, kept at the same path
}{
	Packages: []string{"e2fsprogs", "libext2fs2", "libcom-err2", "libblkid1", "libuuid1", "libc6"},
	Files: []string{
		"sbin/mke2fs", "sbin/e2fsck",
		"lib/{triplet}/libext2fs.so.2", "lib/{triplet}/libe2p.so.2", "lib/{triplet}/libcom_err.so.2",
		"usr/lib/{triplet}/libblkid.so.1", "usr/lib/{triplet}/libuuid.so.1", "lib/{triplet}/libc.so.6",
	},
}

// AddUserland fetches the userland packages for arch and adds the files to
// the tree, with the dynamic loader where the binaries expect it.
func AddUserland(ctx context.Context, apt *Apt, t *Tree, arch, triplet string) ([]Package, error) {
	dir := filepath.Join(apt.CacheDir, "userland", arch)
	var pkgs []Package
	for _, name := range Userland.Packages {
		p, err := apt.Resolve(ctx, name, arch)
		if err != nil {
			return nil, err
		}
		deb, err := apt.Download(ctx, p)
		if err != nil {
			return nil, err
		}
		if err := Extract(ctx, deb, dir); err != nil {
			return nil, err
		}
		pkgs = append(pkgs, p)
	}
	for _, f := range Userland.Files {
		f = strings.ReplaceAll(f, "{triplet}", triplet)
		src, err := resolveIn(dir, f)
		if err != nil {
			return nil, fmt.Errorf("userland file %s not in %v: %w", f, Userland.Packages, err)
		}
		t.Add(Entry{Path: "/" + f, Mode: 0o755, Source: src})
	}
	// The ELF interpreter path is fixed per arch.
	ld := map[string]string{"amd64": "lib64/ld-linux-x86-64.so.2", "arm64": "lib/ld-linux-aarch64.so.1"}[arch]
	src, err := resolveIn(dir, ld)
	if err != nil {
		return nil, fmt.Errorf("dynamic loader %s: %w", ld, err)
	}
	t.Add(Entry{Path: "/" + ld, Mode: 0o755, Source: src})
	return pkgs, nil
}

// resolveIn follows symlinks inside root, treating absolute link targets as
// relative to root (the packages' own view of the filesystem).
func resolveIn(root, p string) (string, error) {
	for range 16 {
		full := filepath.Join(root, p)
		fi, err := os.Lstat(full)
		if err != nil {
			return "", err
		}
		if fi.Mode()&os.ModeSymlink == 0 {
			return full, nil
		}
		link, err := os.Readlink(full)
		if err != nil {
			return "", err
		}
		if filepath.IsAbs(link) {
			p = link
		} else {
			p = filepath.Join(filepath.Dir(p), link)
		}
	}
	return "", fmt.Errorf("%s: too many levels of symbolic links", p)
}

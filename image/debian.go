package image

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Apt fetches Debian packages with the machine's own apt configuration into
// a cache directory. The machine must know the architecture
// (dpkg --add-architecture arm64; apt-get update): ci/install-deps does that.
type Apt struct {
	CacheDir string // .debs are kept in CacheDir/debs
}

// Package is one resolved Debian binary package.
type Package struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Arch    string `json:"arch"`
}

func (p Package) String() string { return p.Name + ":" + p.Arch + "=" + p.Version }

// Resolve returns the candidate version of pkg for arch.
func (a *Apt) Resolve(ctx context.Context, name, arch string) (Package, error) {
	fields, err := a.show(ctx, name, arch)
	if err != nil {
		return Package{}, err
	}
	return Package{Name: name, Version: fields["Version"], Arch: fields["Architecture"]}, nil
}

// ResolveKernel follows a kernel meta package (linux-image-amd64) to the
// versioned image package it depends on (linux-image-6.1.0-56-amd64).
func (a *Apt) ResolveKernel(ctx context.Context, meta, arch string) (Package, error) {
	fields, err := a.show(ctx, meta, arch)
	if err != nil {
		return Package{}, err
	}
	for _, dep := range strings.Split(fields["Depends"], ",") {
		dep = strings.TrimSpace(dep)
		name, _, _ := strings.Cut(dep, " ")
		if strings.HasPrefix(name, "linux-image-") {
			return a.Resolve(ctx, name, arch)
		}
	}
	return Package{}, fmt.Errorf("resolve kernel %s:%s: no linux-image dependency in %q", meta, arch, fields["Depends"])
}

func (a *Apt) show(ctx context.Context, name, arch string) (map[string]string, error) {
	cmd := exec.CommandContext(ctx, "apt-cache", "show", "--no-all-versions", name+":"+arch)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || len(out) == 0 {
		return nil, fmt.Errorf("apt-cache show %s:%s: %v %s\n(is the architecture added and the package list current? run: sudo ci/install-deps)", name, arch, err, strings.TrimSpace(stderr.String()))
	}
	fields := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ": ")
		if ok && !strings.HasPrefix(k, " ") {
			fields[k] = v
		}
	}
	return fields, nil
}

// Download fetches p into the cache unless it is there already, and returns
// the path of the .deb.
func (a *Apt) Download(ctx context.Context, p Package) (string, error) {
	dir := filepath.Join(a.CacheDir, "debs")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	// apt-get names files name_version_arch.deb with ':' in versions escaped.
	file := filepath.Join(dir, fmt.Sprintf("%s_%s_%s.deb", p.Name, strings.ReplaceAll(p.Version, ":", "%3a"), p.Arch))
	if _, err := os.Stat(file); err == nil {
		return file, nil
	}
	cmd := exec.CommandContext(ctx, "apt-get", "download", "-q", p.String())
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("apt-get download %s: %v\n%s", p, err, out)
	}
	if _, err := os.Stat(file); err != nil {
		return "", fmt.Errorf("apt-get download %s: expected %s: %w", p, file, err)
	}
	return file, nil
}

// Extract unpacks a .deb's data into dir (dpkg-deb -x), once: a stamp file
// marks a finished extraction so an interrupted one is redone.
func Extract(ctx context.Context, deb, dir string) error {
	stamp := filepath.Join(dir, ".extracted-"+filepath.Base(deb))
	if _, err := os.Stat(stamp); err == nil {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if out, err := exec.CommandContext(ctx, "dpkg-deb", "-x", deb, dir).CombinedOutput(); err != nil {
		return fmt.Errorf("dpkg-deb -x %s: %v\n%s", filepath.Base(deb), err, out)
	}
	return os.WriteFile(stamp, nil, 0o644)
}

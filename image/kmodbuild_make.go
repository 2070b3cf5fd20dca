package image

import (
	"archive/tar"
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/skerry/skerry/board"
)

// fetchSource returns dir (drivers/char/tpm) of the kernel's source tree,
// unpacked from linux-source-<version> once and kept.
func (kb *kbuild) fetchSource(ctx context.Context, dir string) (string, error) {
	src := Package{Name: "linux-source-" + strings.TrimPrefix(kb.kbuildPk, "linux-kbuild-"), Version: kb.kernel.Version, Arch: "all"}
	root := filepath.Join(kb.workDir, src.Name+"_"+strings.ReplaceAll(src.Version, ":", "%3a"))
	unlock, err := lockDir(root)
	if err != nil {
		return "", err
	}
	defer unlock()
	full := filepath.Join(root, dir)
	stamp := filepath.Join(root, ".extracted-"+strings.ReplaceAll(dir, "/", "_"))
	if _, err := os.Stat(stamp); err == nil {
		return full, nil
	}
	deb, err := kb.fetch(ctx, src)
	if err != nil {
		return "", err
	}
	kb.progress(fmt.Sprintf("extract %s from %s (decompresses the whole tarball)", dir, src.Name))
	if err := os.RemoveAll(full); err != nil {
		return "", err
	}
	if err := extractSourceDir(ctx, deb, root, dir); err != nil {
		return "", fmt.Errorf("extract %s from %s: %w", dir, filepath.Base(deb), err)
	}
	return full, os.WriteFile(stamp, nil, 0o644)
}

// extractSourceDir streams the source tarball out of the .deb
// (usr/src/linux-source-6.1.tar.xz) into tar, which keeps only dir: the
// 1.4 GB tree never touches the disk.
func extractSourceDir(ctx context.Context, deb, root, dir string) error {
	if err := os.MkdirAll(root, 0o755); err != nil {
		return err
	}
	outer := exec.CommandContext(ctx, "dpkg-deb", "--fsys-tarfile", deb)
	var outerErr bytes.Buffer
	outer.Stderr = &outerErr
	r, err := outer.StdoutPipe()
	if err != nil {
		return err
	}
	if err := outer.Start(); err != nil {
		return fmt.Errorf("dpkg-deb: %w", err)
	}
	defer outer.Wait()
	defer io.Copy(io.Discard, r) // let dpkg-deb finish writing
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("no usr/src/linux-source-*.tar.xz in the package: %s", strings.TrimSpace(outerErr.String()))
		}
		if err != nil {
			return fmt.Errorf("read package: %w %s", err, strings.TrimSpace(outerErr.String()))
		}
		base := path.Base(h.Name)
		if h.Typeflag != tar.TypeReg || !strings.HasPrefix(base, "linux-source-") || !strings.HasSuffix(base, ".tar.xz") {
			continue
		}
		// The tarball's top directory is its name: linux-source-6.1/.
		top := strings.TrimSuffix(base, ".tar.xz")
		inner := exec.CommandContext(ctx, "tar", "-xJ", "-C", root, "--strip-components=1", "--no-same-owner",
			"--wildcards", top+"/"+dir+"/*")
		inner.Stdin = tr
		if out, err := inner.CombinedOutput(); err != nil {
			return fmt.Errorf("tar: %v: %s (is %s a directory of the kernel tree?)", err, strings.TrimSpace(string(out)), dir)
		}
		return nil
	}
}

// compile builds one module with kbuild's external module support in a
// fresh directory holding a copy of the driver's source directory (its
// local headers) and a Kbuild file naming only the module's files.
func (kb *kbuild) compile(ctx context.Context, m board.ModuleBuild, src string) (string, error) {
	triplet := kb.board.Triplet()
	cross := ""
	toolPkg := func(p string) string { return p }
	if kb.host != kb.board.DebianArch() {
		cross = triplet + "-"
		toolPkg = func(p string) string { return p + "-" + strings.ReplaceAll(triplet, "_", "-") }
	}
	for _, t := range [][2]string{{"make", "make"}, {cross + kb.compiler, toolPkg(kb.compiler)}, {cross + "strip", toolPkg("binutils")}} {
		if _, err := hostTool(t[0], t[1]); err != nil {
			return "", err
		}
	}

	bdir := filepath.Join(kb.dir, "build", m.Module)
	if err := os.RemoveAll(bdir); err != nil {
		return "", err
	}
	if err := os.CopyFS(bdir, os.DirFS(src)); err != nil {
		return "", fmt.Errorf("copy %s: %w", m.Source, err)
	}
	for _, f := range m.Files {
		if _, err := os.Stat(filepath.Join(bdir, f)); err != nil {
			return "", fmt.Errorf("%s of the kernel source has no %s: check the board's kernel.build files", m.Source, f)
		}
	}
	if err := os.WriteFile(filepath.Join(bdir, "Kbuild"), kbuildFile(m), 0o644); err != nil {
		return "", err
	}

	karch := map[string]string{"amd64": "x86", "arm64": "arm64"}[kb.board.Arch]
	args := []string{"-C", kb.headers, "M=" + bdir, "ARCH=" + karch, "-j2",
		// Strip the build's own paths from the object, so that the module
		// does not depend on where the cache is.
		"KCFLAGS=-ffile-prefix-map=" + bdir + "/= -ffile-prefix-map=" + kb.root + "/=",
	}
	if cross != "" {
		args = append(args, "CROSS_COMPILE="+cross)
	}
	args = append(args, "modules")
	kb.progress(fmt.Sprintf("make %s.ko for %s (%s, ARCH=%s CROSS_COMPILE=%s)", m.Module, kb.release, kb.compiler, karch, cross))
	cmd := exec.CommandContext(ctx, "make", args...)
	cmd.Env = cleanEnv()
	out, err := cmd.CombinedOutput()
	logFile := filepath.Join(bdir, "make.log")
	os.WriteFile(logFile, out, 0o644)
	if err != nil {
		return "", fmt.Errorf("make modules: %v (log: %s)\n%s", err, logFile, lastLines(out, 30))
	}

	// Debian ships its modules without debug info; so do we (400 kB -> 20 kB).
	built := filepath.Join(bdir, m.Module+".ko")
	ko := filepath.Join(kb.dir, m.Module+".ko.tmp")
	if out, err := exec.CommandContext(ctx, cross+"strip", "--strip-debug", "-o", ko, built).CombinedOutput(); err != nil {
		return "", fmt.Errorf("%sstrip %s: %v\n%s", cross, built, err, out)
	}
	return ko, nil
}

// kbuildFile is the Kbuild of a module: one object when the module has a
// single file of its own name (tpm_tis.c), a composite one otherwise.
func kbuildFile(m board.ModuleBuild) []byte {
	var objs []string
	for _, f := range m.Files {
		objs = append(objs, strings.TrimSuffix(f, ".c")+".o")
	}
	if len(objs) == 1 && objs[0] == m.Module+".o" {
		return []byte("obj-m := " + m.Module + ".o\n")
	}
	return []byte("obj-m := " + m.Module + ".o\n" + m.Module + "-y := " + strings.Join(objs, " ") + "\n")
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// checkKO makes sure a built module is what the kernel will accept: a
// relocatable ELF for the board's machine whose vermagic names the kernel.
func checkKO(ko, release, arch string) error {
	f, err := elf.Open(ko)
	if err != nil {
		return err
	}
	defer f.Close()
	machine := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}[arch]
	if f.Type != elf.ET_REL || f.Machine != machine {
		return fmt.Errorf("got an ELF %v for %v, want %v for %v", f.Type, f.Machine, elf.ET_REL, machine)
	}
	info, err := modinfo(f)
	if err != nil {
		return err
	}
	if vm := info["vermagic"]; len(vm) != 1 || !strings.HasPrefix(vm[0], release+" ") {
		return fmt.Errorf("vermagic %q does not name kernel %s", vm, release)
	}
	return nil
}

// modinfo reads a module's .modinfo section: key=value strings, NUL ended.
func modinfo(f *elf.File) (map[string][]string, error) {
	sec := f.Section(".modinfo")
	if sec == nil {
		return nil, fmt.Errorf("no .modinfo section")
	}
	data, err := sec.Data()
	if err != nil {
		return nil, err
	}
	info := map[string][]string{}
	for _, kv := range bytes.Split(data, []byte{0}) {
		if k, v, ok := strings.Cut(string(kv), "="); ok {
			info[k] = append(info[k], v)
		}
	}
	return info, nil
}

// hostTool finds a tool the build runs, or says which package has it.
func hostTool(name, pkg string) (string, error) {
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("%s is not installed: install Debian package %s (ci/install-deps)", name, pkg)
	}
	return p, nil
}

// cleanEnv is the environment for make: without what a calling make passes
// down (jobserver, flags) or what would redirect kbuild (KBUILD_OUTPUT,
// Debian's DEB_* cross variables read by the headers' Makefile).
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if slices.Contains([]string{"MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES", "ARCH", "CROSS_COMPILE", "KCFLAGS", "LANG", "LC_ALL"}, k) ||
			strings.HasPrefix(k, "KBUILD_") || strings.HasPrefix(k, "DEB_") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "LC_ALL=C")
}

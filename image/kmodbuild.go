package image

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"

	"github.com/skerry/skerry/board"
	"github.com/skerry/skerry/image/modindex"
)

// kmodFormat changes whenever the way a module is built changes, so that
// cached modules built the old way are rebuilt.
const kmodFormat = 1

// BuildModules compiles the board's kernel.build modules, drivers that
// Debian's kernel config leaves out, from Debian's kernel source against the
// headers of kernel (the versioned linux-image package), cross-compiling
// when the board's arch is not the host's. It returns each module's .ko.
//
// Everything it fetches, unpacks and builds is kept under workDir: a module
// whose inputs have not changed is returned from there without touching apt
// or a compiler. The packages it uses must have exactly the kernel's Debian
// version, or the module would not load (vermagic and symbol CRCs).
func BuildModules(ctx context.Context, apt *Apt, b *board.Board, kernel Package, workDir string, progress func(string)) (map[string]string, error) {
	if progress == nil {
		progress = func(string) {}
	}
	if len(b.Kernel.Build) == 0 {
		return map[string]string{}, nil
	}
	workDir, err := filepath.Abs(workDir)
	if err != nil {
		return nil, err
	}
	kb := &kbuild{apt: apt, board: b, kernel: kernel, release: kernelRelease(kernel.Name), workDir: workDir, progress: progress}
	// Kbuild rejects paths with spaces or colons; say so before fetching.
	kb.dir = filepath.Join(workDir, kb.release+"_"+strings.ReplaceAll(kernel.Version, ":", "%3a"))
	if strings.ContainsAny(kb.dir, " :") {
		return nil, fmt.Errorf("build kernel modules: kbuild cannot work in %q (it has a space or colon): use another cache directory", kb.dir)
	}
	unlock, err := lockDir(kb.dir)
	if err != nil {
		return nil, fmt.Errorf("build kernel modules: %w", err)
	}
	defer unlock()

	out := map[string]string{}
	for _, m := range b.Kernel.Build {
		ko, err := kb.module(ctx, m)
		if err != nil {
			return nil, fmt.Errorf("build module %s for kernel %s (%s): %w", m.Module, kb.release, kernel.Version, err)
		}
		out[m.Module] = ko
	}
	return out, nil
}

// kbuild builds modules for one kernel. Under workDir it keeps
//
//	<release>_<version>/                 for this kernel (dir):
//	  headers/                           linux-headers-<release>, its -common, linux-kbuild
//	  build/<module>/                    scratch space for one module's make
//	  <module>-<key>.ko                  the results, named by a hash of their inputs
//	linux-source-<x.y>_<version>/        the source directories that modules need,
//	                                     shared by the kernel's flavours (arm64, amd64)
type kbuild struct {
	apt      *Apt
	board    *board.Board
	kernel   Package
	release  string // uname -r
	workDir  string
	dir      string
	progress func(string)

	host     string // the host's Debian arch, which runs linux-kbuild
	root     string // where the headers packages are unpacked
	headers  string // the headers directory make -C runs in, once fetched
	compiler string // the C compiler the kernel was built with (gcc-12)
	kbuildPk string // linux-kbuild-<version>, whose twin is linux-source-<version>
}

func (kb *kbuild) module(ctx context.Context, m board.ModuleBuild) (string, error) {
	if err := checkModuleBuild(m); err != nil {
		return "", err
	}
	key, err := kb.key(m)
	if err != nil {
		return "", err
	}
	ko := filepath.Join(kb.dir, m.Module+"-"+key+".ko")
	if _, err := os.Stat(ko); err == nil {
		kb.progress(fmt.Sprintf("%s.ko for %s: cached", m.Module, kb.release))
		return ko, nil
	}
	if err := kb.fetchHeaders(ctx); err != nil {
		return "", err
	}
	src, err := kb.fetchSource(ctx, m.Source)
	if err != nil {
		return "", err
	}
	built, err := kb.compile(ctx, m, src)
	if err != nil {
		return "", err
	}
	if err := checkKO(built, kb.release, kb.board.Arch); err != nil {
		return "", fmt.Errorf("check %s: %w", filepath.Base(built), err)
	}
	// Drop what older inputs built, then publish atomically.
	old, _ := filepath.Glob(filepath.Join(kb.dir, m.Module+"-*.ko"))
	for _, o := range old {
		os.Remove(o)
	}
	if err := os.Rename(built, ko); err != nil {
		return "", err
	}
	return ko, nil
}

// key hashes everything a built module depends on.
func (kb *kbuild) key(m board.ModuleBuild) (string, error) {
	data, err := json.Marshal(struct {
		Format int
		Kernel Package
		Build  board.ModuleBuild
	}{kmodFormat, kb.kernel, m})
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:6]), nil
}

var moduleName = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

func checkModuleBuild(m board.ModuleBuild) error {
	if !moduleName.MatchString(m.Module) {
		return fmt.Errorf("module name %q is not a plain module name", m.Module)
	}
	if !filepath.IsLocal(m.Source) {
		return fmt.Errorf("source %q is not a directory inside the kernel tree", m.Source)
	}
	for _, f := range m.Files {
		if !filepath.IsLocal(f) || !strings.HasSuffix(f, ".c") {
			return fmt.Errorf("file %q is not a .c file inside %s", f, m.Source)
		}
	}
	return nil
}

// fetchHeaders fetches and unpacks the kernel's headers, once per call of
// BuildModules: linux-headers-<release> for the board's arch, the -common
// package it includes, and linux-kbuild for the host, whose scripts
// (fixdep, modpost) run here.
func (kb *kbuild) fetchHeaders(ctx context.Context) error {
	if kb.headers != "" {
		return nil
	}
	root := filepath.Join(kb.dir, "headers")
	hdr := Package{Name: "linux-headers-" + kb.release, Version: kb.kernel.Version, Arch: kb.board.DebianArch()}
	deb, err := kb.fetch(ctx, hdr)
	if err != nil {
		return err
	}
	depends, err := exec.CommandContext(ctx, "dpkg-deb", "-f", deb, "Depends").Output()
	if err != nil {
		return fmt.Errorf("read Depends of %s: %w", filepath.Base(deb), err)
	}
	var common string
	for _, dep := range strings.Split(string(depends), ",") {
		name, _, _ := strings.Cut(strings.TrimSpace(dep), " ")
		switch {
		case strings.HasPrefix(name, "linux-headers-") && strings.HasSuffix(name, "-common"):
			common = name
		case strings.HasPrefix(name, "linux-kbuild-"):
			kb.kbuildPk = name
		}
	}
	if common == "" || kb.kbuildPk == "" {
		return fmt.Errorf("%s depends on %q: expected a linux-headers-*-common and a linux-kbuild-* package", hdr, strings.TrimSpace(string(depends)))
	}
	if kb.host, err = hostDebianArch(ctx); err != nil {
		return err
	}
	debs := []string{deb}
	for _, p := range []Package{
		{Name: common, Version: kb.kernel.Version, Arch: "all"},
		{Name: kb.kbuildPk, Version: kb.kernel.Version, Arch: kb.host},
	} {
		deb, err := kb.fetch(ctx, p)
		if err != nil {
			return err
		}
		debs = append(debs, deb)
	}
	for _, deb := range debs {
		if err := Extract(ctx, deb, root); err != nil {
			return fmt.Errorf("extract headers: %w", err)
		}
	}
	dir := filepath.Join(root, "usr", "src", hdr.Name)
	if err := relocateHeaders(dir, root); err != nil {
		return err
	}
	if kb.compiler, err = kernelCompiler(filepath.Join(dir, ".config")); err != nil {
		return err
	}
	kb.root, kb.headers = root, dir
	return nil
}

func (kb *kbuild) fetch(ctx context.Context, p Package) (string, error) {
	kb.progress("fetch " + p.String())
	deb, err := kb.apt.Download(ctx, p)
	if err != nil {
		return "", fmt.Errorf("fetch %s (the kernel's exact version; if the archive no longer has it, run apt-get update and rebuild so the kernel resolves to a current one): %w", p, err)
	}
	return deb, nil
}

// relocateHeaders points the headers' Makefile, which includes the -common
// tree by its installed path (include /usr/src/linux-headers-...-common/
// Makefile), at the unpacked copy instead. It rewrites an earlier rewrite
// too, in case the cache has moved.
func relocateHeaders(dir, root string) error {
	mk := filepath.Join(dir, "Makefile")
	data, err := os.ReadFile(mk)
	if err != nil {
		return fmt.Errorf("headers: %w", err)
	}
	if !headersInclude.Match(data) {
		return fmt.Errorf("headers: %s does not include the -common Makefile from /usr/src: Debian changed the layout of its headers packages", mk)
	}
	data = headersInclude.ReplaceAllLiteral(data, []byte("include "+root+"/usr/src/"))
	return os.WriteFile(mk, data, 0o644)
}

var headersInclude = regexp.MustCompile(`(?m)^include \S*/usr/src/`)

// kernelCompiler reads the compiler the kernel was built with from its
// config (CONFIG_CC_VERSION_TEXT="gcc-12 (Debian ...) 12.2.0"); the headers'
// Makefile calls the same name, with CROSS_COMPILE in front.
func kernelCompiler(config string) (string, error) {
	var cc string
	err := modindex.EachLine(config, func(line string) {
		if v, ok := strings.CutPrefix(line, "CONFIG_CC_VERSION_TEXT="); ok {
			cc, _, _ = strings.Cut(strings.Trim(v, `"`), " ")
		}
	})
	if err != nil || cc == "" {
		return "", fmt.Errorf("headers: no CONFIG_CC_VERSION_TEXT in %s: %v", config, err)
	}
	return cc, nil
}

func hostDebianArch(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "dpkg", "--print-architecture").Output()
	if err != nil {
		return "", fmt.Errorf("dpkg --print-architecture: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// lockDir takes an exclusive lock on dir, so that two builds sharing a
// cache (parallel tests, two boards) do not unpack into the same place at
// once.
func lockDir(dir string) (unlock func(), err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", dir, err)
	}
	return func() { f.Close() }, nil
}

package image

import (
	"debug/elf"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/skerry/skerry/qemu/testenv"

	"github.com/google/go-cmp/cmp"

	"github.com/skerry/skerry/board"
)

func TestKbuildFile(t *testing.T) {
	for _, tc := range []struct {
		m    board.ModuleBuild
		want string
	}{
		{board.ModuleBuild{Module: "tpm_tis", Files: []string{"tpm_tis.c"}}, "obj-m := tpm_tis.o\n"},
		{board.ModuleBuild{Module: "tpm_tis_spi", Files: []string{"tpm_tis_spi_main.c", "tpm_tis_spi_cr50.c"}},
			"obj-m := tpm_tis_spi.o\ntpm_tis_spi-y := tpm_tis_spi_main.o tpm_tis_spi_cr50.o\n"},
	} {
		if diff := cmp.Diff(tc.want, string(kbuildFile(tc.m))); diff != "" {
			t.Errorf("kbuildFile(%s) (-want +got):\n%s", tc.m.Module, diff)
		}
	}
}

func TestCheckModuleBuild(t *testing.T) {
	for _, tc := range []struct {
		m  board.ModuleBuild
		ok bool
	}{
		{board.ModuleBuild{Module: "tpm_tis", Source: "drivers/char/tpm", Files: []string{"tpm_tis.c"}}, true},
		{board.ModuleBuild{Module: "tpm tis", Source: "drivers/char/tpm", Files: []string{"tpm_tis.c"}}, false},
		{board.ModuleBuild{Module: "tpm_tis", Source: "../etc", Files: []string{"tpm_tis.c"}}, false},
		{board.ModuleBuild{Module: "tpm_tis", Source: "/drivers", Files: []string{"tpm_tis.c"}}, false},
		{board.ModuleBuild{Module: "tpm_tis", Source: "drivers/char/tpm", Files: []string{"tpm_tis.h"}}, false},
		{board.ModuleBuild{Module: "tpm_tis", Source: "drivers/char/tpm", Files: []string{"../x.c"}}, false},
	} {
		if err := checkModuleBuild(tc.m); (err == nil) != tc.ok {
			t.Errorf("checkModuleBuild(%+v): got %v, want ok=%v", tc.m, err, tc.ok)
		}
	}
}

func TestRelocateHeaders(t *testing.T) {
	root := "/cache/kmod/6.1.0-56-arm64_6.1.192-2/headers"
	want := "include " + root + "/usr/src/linux-headers-6.1.0-56-common/Makefile\noverride ARCH = arm64\n"
	for _, tc := range []struct {
		name, in string
		ok       bool
	}{
		{"installed", "include /usr/src/linux-headers-6.1.0-56-common/Makefile\noverride ARCH = arm64\n", true},
		{"moved cache", "include /old/cache/usr/src/linux-headers-6.1.0-56-common/Makefile\noverride ARCH = arm64\n", true},
		{"relocated", want, true},
		{"unknown layout", "include ../common/Makefile\n", false},
	} {
		dir := t.TempDir()
		mk := filepath.Join(dir, "Makefile")
		if err := os.WriteFile(mk, []byte(tc.in), 0o644); err != nil {
			t.Fatal(err)
		}
		err := relocateHeaders(dir, root)
		if (err == nil) != tc.ok {
			t.Errorf("%s: got error %v, want ok=%v", tc.name, err, tc.ok)
			continue
		}
		got, _ := os.ReadFile(mk)
		if diff := cmp.Diff(want, string(got)); tc.ok && diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.name, diff)
		}
	}
}

func TestKernelCompiler(t *testing.T) {
	config := filepath.Join(t.TempDir(), ".config")
	data := "CONFIG_CC_VERSION_TEXT=\"gcc-12 (Debian 12.2.0-14+deb12u1) 12.2.0\"\nCONFIG_CC_IS_GCC=y\n"
	if err := os.WriteFile(config, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := kernelCompiler(config); got != "gcc-12" || err != nil {
		t.Errorf("kernelCompiler: got %q, %v, want gcc-12", got, err)
	}
}

// TestBuildModulesARM64 runs the real build of the qemu-arm64 board's
// tpm_tis.ko and checks that Debian's kernel would load it: an aarch64
// relocatable object with the kernel's vermagic, needing tpm_tis_core, and
// importing tpm_tis_core's symbols with the CRCs of Debian's own
// tpm_tis_core.ko (CONFIG_MODVERSIONS). The QEMU tests boot it for real.
func TestBuildModulesARM64(t *testing.T) {
	// Builds tpm_tis.ko from Debian's kernel source: apt with arm64
	// added, the network, gcc-12-aarch64-linux-gnu; about a minute cold.
	testenv.Integration(t, testenv.Tools("apt-get", "dpkg-deb", "make", "tar", "aarch64-linux-gnu-gcc-12", "aarch64-linux-gnu-strip"))
	ctx := t.Context()
	apt := &Apt{CacheDir: testCacheDir(t)}
	b, err := board.Lookup("qemu-arm64")
	if err != nil {
		t.Fatal(err)
	}
	p, err := apt.ResolveKernel(ctx, b.Kernel.Package, b.Arch)
	if err != nil {
		t.Fatal(err)
	}
	k, err := FetchKernel(ctx, apt, p)
	if err != nil {
		t.Fatal(err)
	}
	workDir := filepath.Join(apt.CacheDir, "kmod")
	start := time.Now()
	kos, err := BuildModules(ctx, apt, b, p, workDir, func(s string) { t.Log(s) })
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("BuildModules took %v", time.Since(start))
	ko := kos["tpm_tis"]
	if ko == "" {
		t.Fatalf("BuildModules returned %v, want tpm_tis", kos)
	}

	f, err := elf.Open(ko)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Type != elf.ET_REL || f.Machine != elf.EM_AARCH64 {
		t.Errorf("%s: got ELF %v for %v, want ET_REL for EM_AARCH64", ko, f.Type, f.Machine)
	}
	info, err := modinfo(f)
	if err != nil {
		t.Fatal(err)
	}
	core := filepath.Join(k.ModulesDir(), "kernel", "drivers", "char", "tpm", "tpm_tis_core.ko")
	cf, err := elf.Open(core)
	if err != nil {
		t.Fatal(err)
	}
	defer cf.Close()
	coreInfo, err := modinfo(cf)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(coreInfo["vermagic"], info["vermagic"]); diff != "" {
		t.Errorf("vermagic differs from Debian's tpm_tis_core.ko (-debian +built):\n%s", diff)
	}
	if !strings.HasPrefix(info["vermagic"][0], k.Release+" ") {
		t.Errorf("vermagic %q: want it to start with %s", info["vermagic"], k.Release)
	}
	if diff := cmp.Diff([]string{"tpm_tis_core"}, info["depends"]); diff != "" {
		t.Errorf("depends (-want +got):\n%s", diff)
	}

	imports := moduleVersions(t, f)
	exports := exportCRCs(t, cf)
	if len(exports) == 0 {
		t.Fatalf("%s exports no CRCs", core)
	}
	if _, ok := imports["tpm_tis_core_init"]; !ok {
		t.Errorf("tpm_tis.ko does not import tpm_tis_core_init: %v", imports)
	}
	for sym, crc := range exports {
		if got, ok := imports[sym]; ok && got != crc {
			t.Errorf("CRC of %s: got %#08x, want %#08x (Debian's tpm_tis_core.ko)", sym, got, crc)
		}
	}

	// The second build finds the module in the cache.
	var lines []string
	start = time.Now()
	again, err := BuildModules(ctx, apt, b, p, workDir, func(s string) { lines = append(lines, s) })
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("BuildModules again took %v", time.Since(start))
	if diff := cmp.Diff(kos, again); diff != "" {
		t.Errorf("second build (-first +second):\n%s", diff)
	}
	if len(lines) != 1 || !strings.HasSuffix(lines[0], ": cached") {
		t.Errorf("second build reported %q, want one line ending in \": cached\"", lines)
	}
}

// testCacheDir is the download cache the image build uses, so that tests
// and builds share it: $SKERRY_OUT/cache, or out/cache in the module.
func testCacheDir(t *testing.T) string {
	t.Helper()
	out := os.Getenv("SKERRY_OUT")
	if out == "" {
		out = filepath.Join("..", "out")
	}
	dir, err := filepath.Abs(filepath.Join(out, "cache"))
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// moduleVersions reads the CRCs a module expects of the symbols it imports
// (__versions: 64-byte records, an unsigned long CRC then the name).
func moduleVersions(t *testing.T, f *elf.File) map[string]uint32 {
	t.Helper()
	sec := f.Section("__versions")
	if sec == nil {
		t.Fatal("no __versions section: built without CONFIG_MODVERSIONS?")
	}
	data, err := sec.Data()
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]uint32{}
	for ; len(data) >= 64; data = data[64:] {
		name, _, _ := strings.Cut(string(data[8:64]), "\x00")
		m[name] = uint32(f.ByteOrder.Uint64(data[:8]))
	}
	return m
}

// exportCRCs reads a module's exported symbol CRCs: each __crc_<name>
// symbol points at its 32-bit CRC in the __kcrctab sections.
func exportCRCs(t *testing.T, f *elf.File) map[string]uint32 {
	t.Helper()
	syms, err := f.Symbols()
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]uint32{}
	for _, s := range syms {
		name, ok := strings.CutPrefix(s.Name, "__crc_")
		if !ok || int(s.Section) >= len(f.Sections) {
			continue
		}
		data, err := f.Sections[s.Section].Data()
		if err != nil || s.Value+4 > uint64(len(data)) {
			t.Fatalf("__crc_%s: cannot read its section: %v", name, err)
		}
		m[name] = f.ByteOrder.Uint32(data[s.Value:])
	}
	return m
}

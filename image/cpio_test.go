package image

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/skerry/skerry/qemu/testenv"

	"github.com/google/go-cmp/cmp"
)

func testTree(t *testing.T) *Tree {
	t.Helper()
	src := filepath.Join(t.TempDir(), "bin")
	if err := os.WriteFile(src, []byte("#!/bin/true\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	tr := NewTree()
	tr.Add(Entry{Path: "/usr/bin/tool", Mode: 0o755, Source: src})
	tr.Add(Entry{Path: "/init", Mode: 0o755, Data: []byte("init")})
	tr.Add(Entry{Path: "/etc/hostname", Mode: 0o644, Data: []byte("skerry\n")})
	tr.Add(Entry{Path: "/bin", Mode: fs.ModeSymlink | 0o777, Link: "usr/bin"})
	return tr
}

// TestCPIOExtracts checks the archive with the real cpio tool: every entry
// is there with its contents, and the completion marker comes last.
func TestCPIOExtracts(t *testing.T) {
	if _, err := exec.LookPath("cpio"); err != nil {
		// Skipped on a bare machine; a failure where
		// SKERRY_INTEGRATION=1 says the tools are installed.
		testenv.Integration(t, testenv.Tools("cpio"))
		t.Skip("cpio not installed (ci/install-deps installs it)")
	}
	var buf bytes.Buffer
	if _, err := testTree(t).WriteCPIO(&buf); err != nil {
		t.Fatal(err)
	}
	list := exec.Command("cpio", "-it", "--quiet")
	list.Stdin = bytes.NewReader(buf.Bytes())
	out, err := list.Output()
	if err != nil {
		t.Fatalf("cpio -it: %v", err)
	}
	// The marker sits at the top level: the kernel's unpacker does not
	// create parent directories, so the marker must not need one.
	want := []string{"init", "bin", "etc", "etc/hostname", "usr", "usr/bin", "usr/bin/tool", strings.TrimPrefix(CompleteMarker, "/")}
	if diff := cmp.Diff(want, strings.Fields(string(out))); diff != "" {
		t.Errorf("archive listing (-want +got):\n%s", diff)
	}
	dir := t.TempDir()
	ex := exec.Command("cpio", "-id", "--quiet")
	ex.Dir = dir
	ex.Stdin = bytes.NewReader(buf.Bytes())
	if out, err := ex.CombinedOutput(); err != nil {
		t.Fatalf("cpio -id: %v\n%s", err, out)
	}
	for p, want := range map[string]string{"usr/bin/tool": "#!/bin/true\n", "etc/hostname": "skerry\n", "bin/tool": "#!/bin/true\n", strings.TrimPrefix(CompleteMarker, "/"): "7\n"} {
		got, err := os.ReadFile(filepath.Join(dir, p))
		if err != nil || string(got) != want {
			t.Errorf("%s: got %q, %v; want %q", p, got, err, want)
		}
	}
	if fi, err := os.Stat(filepath.Join(dir, "usr/bin/tool")); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("usr/bin/tool mode: got %v, %v; want 0755", fi.Mode(), err)
	}
}

func TestCPIODeterministic(t *testing.T) {
	var a, b bytes.Buffer
	if _, err := testTree(t).WriteCPIO(&a); err != nil {
		t.Fatal(err)
	}
	if _, err := testTree(t).WriteCPIO(&b); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Error("two archives of the same tree differ")
	}
}

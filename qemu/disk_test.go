package qemu

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestDiskOverlay creates overlays with the real qemu-img and checks that
// the image stays untouched and a given overlay is reused.
func TestDiskOverlay(t *testing.T) {
	if _, err := exec.LookPath("qemu-img"); err != nil {
		missing(t, "qemu-img is not installed")
	}
	dir := t.TempDir()
	img := filepath.Join(dir, "disk.img")
	content := bytes.Repeat([]byte("skerry"), 1<<16)
	if err := os.WriteFile(img, content, 0o600); err != nil {
		t.Fatal(err)
	}
	given := filepath.Join(dir, "kept.qcow2")
	for _, tc := range []struct {
		name       string
		cfg        Config
		wantPath   string
		wantFormat string
	}{
		{"fresh overlay", Config{Disk: img}, filepath.Join(dir, "vm", "disk.qcow2"), "qcow2"},
		{"given overlay", Config{Disk: img, Overlay: given}, given, "qcow2"},
		{"given overlay again", Config{Disk: img, Overlay: given}, given, "qcow2"},
		{"write through", Config{Disk: img, DiskWrite: true}, img, "raw"},
	} {
		vmDir := filepath.Join(dir, "vm")
		os.MkdirAll(vmDir, 0o700)
		path, format, err := disk(t.Context(), &tc.cfg, vmDir)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if diff := cmp.Diff([]string{tc.wantPath, tc.wantFormat}, []string{path, format}); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.name, diff)
		}
		if format != "qcow2" {
			continue
		}
		out, err := exec.Command("qemu-img", "info", "--output=json", path).Output()
		if err != nil {
			t.Fatal(err)
		}
		var info struct {
			Backing string `json:"full-backing-filename"`
			Format  string `json:"backing-filename-format"`
		}
		json.Unmarshal(out, &info)
		if diff := cmp.Diff([]string{img, "raw"}, []string{info.Backing, info.Format}); diff != "" {
			t.Errorf("%s: backing file (-want +got):\n%s", tc.name, diff)
		}
	}
	if got, _ := os.ReadFile(img); !bytes.Equal(got, content) {
		t.Error("the image changed")
	}
}

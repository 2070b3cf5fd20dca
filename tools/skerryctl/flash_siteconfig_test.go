//go:build linux

package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/skerry/skerry/image"
	"github.com/skerry/skerry/services/contract"
	"github.com/skerry/skerry/tools/skerryctl/internal/blockdev/blockdevtest"
)

// espImage builds a disk image the way mkimage does (mtools FAT32 ESP in a
// GPT), with a baked site config on its ESP, and returns its path.
func espImage(t *testing.T) string {
	t.Helper()
	for _, tool := range []string{"mformat", "mcopy", "mmd", "mtype", "fsck.fat"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (make deps installs mtools and dosfstools)", tool)
		}
	}
	dir := t.TempDir()
	baked := filepath.Join(dir, "baked.json")
	if err := os.WriteFile(baked, []byte(`{"version": 1, "hostname": "baked-in-at-build-time-with-a-long-name"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	loader := filepath.Join(dir, "BOOTX64.EFI")
	if err := os.WriteFile(loader, bytes.Repeat([]byte("loader"), 50000), 0o644); err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(dir, "disk.img")
	spec := image.DiskSpec{ESPMiB: 64, PermMiB: 2, Seed: "test",
		ESP: map[string]string{contract.ESPSiteConfig: baked, "EFI/BOOT/BOOTX64.EFI": loader}}
	if err := image.WriteDisk(context.Background(), img, spec); err != nil {
		t.Fatal(err)
	}
	return img
}

// espFile reads a file from the ESP of disk with mtools: a FAT reader that
// is not the one skerryctl writes with.
func espFile(t *testing.T, disk string, offset int64, name string) string {
	t.Helper()
	out, err := exec.Command("mtype", "-i", fmt.Sprintf("%s@@%d", disk, offset), "::/"+name).CombinedOutput()
	if err != nil {
		t.Fatalf("mtype %s: %v\n%s", name, err, out)
	}
	return string(out)
}

func TestFlashSiteConfig(t *testing.T) {
	img := espImage(t)
	info, err := os.Stat(img)
	if err != nil {
		t.Fatal(err)
	}
	esp, err := findESP(img, 512)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	site := filepath.Join(dir, "site.json")
	want := `{"version": 1, "hostname": "shop-17", "tower": {"url": "https://tower.example:8443"}}` + "\n"
	if err := os.WriteFile(site, []byte(want), 0o644); err != nil {
		t.Fatal(err)
	}
	target := blockdevtest.File(t, info.Size()+4*mib, 0)

	stdout, stderr, err := flashOut(context.Background(), "--image", img, "--device", target, "--site-config", site)
	if err != nil {
		t.Fatalf("flash: %v\nstderr:\n%s", err, stderr)
	}
	if !strings.Contains(stdout, "site config: "+site) || !strings.Contains(stdout, "ok: ") {
		t.Errorf("stdout does not report the site config and success:\n%s", stdout)
	}
	if got := espFile(t, target, esp.start, contract.ESPSiteConfig); got != want {
		t.Errorf("ESP skerry/site.json on the device = %q, want %q", got, want)
	}
	// The rest of the ESP is untouched, and the file system is clean.
	if got := espFile(t, target, esp.start, "EFI/BOOT/BOOTX64.EFI"); got != strings.Repeat("loader", 50000) {
		t.Errorf("the loader on the ESP changed (%d bytes)", len(got))
	}
	part := filepath.Join(dir, "esp.fat")
	data, err := os.ReadFile(target)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(part, data[esp.start:esp.start+esp.size], 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("fsck.fat", "-n", part).CombinedOutput(); err != nil {
		t.Errorf("fsck.fat -n on the ESP after writing the site config: %v\n%s", err, out)
	}
	// The image itself is left as it was.
	if got := espFile(t, img, esp.start, contract.ESPSiteConfig); !strings.Contains(got, "baked-in") {
		t.Errorf("the image's own site config changed: %q", got)
	}
}

func TestFlashSiteConfigRefused(t *testing.T) {
	img := espImage(t)
	info, err := os.Stat(img)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"version": 1, "hostnme": "typo"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(dir, "good.json")
	if err := os.WriteFile(good, []byte(`{"version": 1}`), 0o644); err != nil {
		t.Fatal(err)
	}
	noESP := blockdevtest.Image(t, 4*mib, 512) // its first partition is not named ESP
	target := blockdevtest.File(t, info.Size(), 0)
	tests := []struct {
		name    string
		args    []string
		wantMsg []string
	}{
		{"unknown field", []string{"--image", img, "--device", target, "--site-config", bad}, []string{"site config " + bad, "hostnme", "nothing was written"}},
		{"missing file", []string{"--image", img, "--device", target, "--site-config", filepath.Join(dir, "none.json")}, []string{"site config", "none.json", "nothing was written"}},
		{"image without an ESP", []string{"--image", noESP, "--device", target, "--site-config", good}, []string{`no partition named "ESP"`, "mkimage", "nothing was written"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := flashOut(context.Background(), tt.args...)
			for _, m := range tt.wantMsg {
				if err == nil || !strings.Contains(err.Error(), m) {
					t.Errorf("flash %q: got error %v, want one containing %q", tt.args, err, m)
				}
			}
		})
	}
	if b, _ := os.ReadFile(target); len(bytes.Trim(b, "\x00")) != 0 {
		t.Errorf("a refused flash changed %s", target)
	}
}

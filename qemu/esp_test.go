package qemu

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/skerry/skerry/qemu/testenv"
	"github.com/skerry/skerry/services/contract"
	"github.com/skerry/skerry/services/siteconfig"
)

// TestSetBenchHealth writes the bench's status API settings over the site
// config on a FAT partition at 1 MiB, as on a built image, and keeps the
// rest of that config.
func TestSetBenchHealth(t *testing.T) {
	testenv.Integration(t, testenv.Tools("mformat", "mmd", "mcopy"))
	disk := filepath.Join(t.TempDir(), "disk.img")
	if err := os.WriteFile(disk, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(disk, 16<<20); err != nil {
		t.Fatal(err)
	}
	img := disk + "@@" + strconv.Itoa(espOffset)
	if err := mtools("mformat", "-i", img, "-T", strconv.Itoa(12<<20/512), "-h", "64", "-s", "32", "::"); err != nil {
		t.Fatal(err)
	}
	if err := mtools("mmd", "-i", img, "::/skerry"); err != nil {
		t.Fatal(err)
	}
	baked := siteconfig.Default()
	baked.Hostname = "baked"
	data, _ := baked.Marshal()
	if err := WriteESPFile(disk, contract.ESPSiteConfig, data); err != nil {
		t.Fatal(err)
	}
	if err := SetBenchHealth(disk, "0123456789abcdef0123"); err != nil {
		t.Fatal(err)
	}
	data, err := ReadESPFile(disk, contract.ESPSiteConfig)
	if err != nil {
		t.Fatal(err)
	}
	got, err := siteconfig.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	want := siteconfig.Default()
	want.Hostname = "baked"
	want.Health = siteconfig.Health{Listen: "0.0.0.0:8080", Token: "0123456789abcdef0123"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("site config (-want +got):\n%s", diff)
	}
}

package blockdev_test

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/skerry/skerry/tools/skerryctl/internal/blockdev"
	"github.com/skerry/skerry/tools/skerryctl/internal/blockdev/blockdevtest"
)

func TestCheck(t *testing.T) {
	img := &blockdev.Image{Path: "skerry.img", Size: 700 * mib, GPT: blockdev.GPT{SectorSize: 512}}
	disk := blockdev.Target{Path: "/dev/sdb", Name: "/dev/sdb", Block: true, Size: 16 << 30, SectorSize: 512}
	with := func(edit func(*blockdev.Target)) *blockdev.Target {
		t := disk
		edit(&t)
		return &t
	}
	tests := []struct {
		name     string
		target   *blockdev.Target
		want     []error
		forcible bool
	}{
		{"fine", &disk, nil, true},
		{"regular file", &blockdev.Target{Path: "f", Name: "f", Size: 700 * mib, SectorSize: 512}, nil, true},
		{"too small", with(func(t *blockdev.Target) { t.Size = 512 * mib }), []error{blockdev.ErrTooSmall}, false},
		{"read-only", with(func(t *blockdev.Target) { t.ReadOnly = true }), []error{blockdev.ErrReadOnly}, false},
		{"mounted", with(func(t *blockdev.Target) {
			t.Uses = []blockdev.Use{{Dev: "/dev/sdb1", What: "mounted on /media/a"}, {Dev: "/dev/sdb2", What: "in use as swap"}}
		}), []error{blockdev.ErrInUse, blockdev.ErrInUse}, true},
		{"system disk", with(func(t *blockdev.Target) { t.System = []string{"/", "/boot"} }), []error{blockdev.ErrSystemDisk}, true},
		{"partition", with(func(t *blockdev.Target) { t.Name, t.Disk = "/dev/sdb1", "/dev/sdb" }), []error{blockdev.ErrPartition}, true},
		{"4096-byte sectors", with(func(t *blockdev.Target) { t.SectorSize = 4096 }), []error{blockdev.ErrSectorSize}, true},
		{"small mounted partition", with(func(t *blockdev.Target) {
			t.Name, t.Disk, t.Size = "/dev/sdb1", "/dev/sdb", mib
			t.Uses = []blockdev.Use{{Dev: "/dev/sdb1", What: "mounted on /media/a"}}
		}), []error{blockdev.ErrTooSmall, blockdev.ErrInUse, blockdev.ErrPartition}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs := blockdev.Check(tt.target, img)
			var got []error
			forcible := true
			for _, r := range rs {
				got = append(got, r.Err)
				forcible = forcible && r.Forcible()
			}
			if diff := cmp.Diff(tt.want, got, cmp.Comparer(func(a, b error) bool { return a == b })); diff != "" {
				t.Errorf("Check (-want +got):\n%s", diff)
			}
			if forcible != tt.forcible {
				t.Errorf("Check: got forcible %v, want %v", forcible, tt.forcible)
			}
			err := &blockdev.RefusedError{Target: tt.target.Path, Refusals: rs}
			for _, e := range tt.want {
				if !errors.Is(err, e) {
					t.Errorf("errors.Is(%q, %v) = false", err, e)
				}
			}
		})
	}
}

func TestInspect(t *testing.T) {
	dir := t.TempDir()
	file := blockdevtest.File(t, 3*mib, 0)
	tests := []struct {
		name    string
		path    string
		want    *blockdev.Target
		wantErr error
	}{
		{name: "regular file", path: file,
			want: &blockdev.Target{Path: file, Name: file, Size: 3 * mib, SectorSize: 512, Description: "regular file"}},
		{name: "missing", path: filepath.Join(dir, "sdx"), wantErr: fs.ErrNotExist},
		{name: "directory", path: dir, wantErr: blockdev.ErrUnsupported},
		{name: "character device", path: "/dev/null", wantErr: blockdev.ErrUnsupported},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := blockdev.Inspect(tt.path)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Inspect(%s): got error %v, want %v", tt.path, err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(blockdev.Target{}), cmp.FilterPath(func(p cmp.Path) bool {
				return p.Last().String() == ".info"
			}, cmp.Ignore())); diff != "" {
				t.Errorf("Inspect (-want +got):\n%s", diff)
			}
		})
	}
	// A mistyped device must not become a file.
	if _, err := os.Stat(filepath.Join(dir, "sdx")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Inspect created %s", filepath.Join(dir, "sdx"))
	}
}

// TestCheckImageItself refuses to write an image onto itself.
func TestCheckImageItself(t *testing.T) {
	path := blockdevtest.Image(t, 4*mib, 512)
	img, err := blockdev.OpenImage(path)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	tgt, err := blockdev.Inspect(path)
	if err != nil {
		t.Fatal(err)
	}
	if rs := blockdev.Check(tgt, img); len(rs) != 1 || rs[0].Err != blockdev.ErrSameFile {
		t.Errorf("Check(image, itself): got %v, want %v", rs, blockdev.ErrSameFile)
	}
}

// TestInspectSystemDisk inspects the device that holds / and expects it
// flagged as the system disk and as mounted. It only reads: it never
// writes anywhere near that disk.
func TestInspectSystemDisk(t *testing.T) {
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Skip(err)
	}
	var root string
	for line := range strings.Lines(string(mi)) {
		f := strings.Fields(line)
		if i := slices.Index(f, "-"); len(f) > 4 && f[4] == "/" && i > 0 && i+2 < len(f) {
			root = f[i+2]
		}
	}
	if fi, err := os.Stat(root); err != nil || fi.Mode()&fs.ModeDevice == 0 || fi.Mode()&fs.ModeCharDevice != 0 {
		t.Skipf("/ is not on a block device here (mount source %q)", root)
	}
	tgt, err := blockdev.Inspect(root)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(tgt.System, "/") {
		t.Errorf("Inspect(%s).System = %q, want it to contain /", root, tgt.System)
	}
	if !slices.ContainsFunc(tgt.Uses, func(u blockdev.Use) bool { return u.What == "mounted on /" }) {
		t.Errorf("Inspect(%s).Uses = %q, want it mounted on /", root, tgt.Uses)
	}
}

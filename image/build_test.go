package image

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/skerry/skerry/qemu/testenv"

	"github.com/skerry/skerry/board"
)

// TestReproducibleInitramfs builds the x86_64 image twice from the same
// inputs into two output directories and requires byte-identical
// initramfs files. It needs apt and the network to Debian's mirror the
// first time (make test's cache has the packages after `make images`).
func TestReproducibleInitramfs(t *testing.T) {
	// Builds real images: apt and the network to Debian's mirror the
	// first time.
	testenv.Integration(t, testenv.Tools("apt-get", "apt-cache", "dpkg-deb", "depmod", "go"))
	b, err := board.Lookup("qemu-x86_64")
	if err != nil {
		t.Fatal(err)
	}
	moduleDir, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	cache := filepath.Join(moduleDir, "out", "cache")
	if v := os.Getenv("SKERRY_OUT"); v != "" {
		cache = filepath.Join(v, "cache")
	}
	var files [2][]byte
	for i := range files {
		out := filepath.Join(t.TempDir(), b.Name)
		bld := &Builder{Board: b, OutDir: out, CacheDir: cache, ModuleDir: moduleDir, Version: "repro-test", Progress: io.Discard}
		m, err := bld.Build(context.Background())
		if err != nil {
			t.Fatalf("build %d: %v", i+1, err)
		}
		if files[i], err = os.ReadFile(filepath.Join(out, InitrdFile)); err != nil {
			t.Fatal(err)
		}
		if m.Initramfs.Compressed != int64(len(files[i])) {
			t.Errorf("manifest says %d compressed bytes, file has %d", m.Initramfs.Compressed, len(files[i]))
		}
	}
	if !bytes.Equal(files[0], files[1]) {
		t.Errorf("two builds from the same inputs gave different initramfs files (%d and %d bytes)", len(files[0]), len(files[1]))
	}
}

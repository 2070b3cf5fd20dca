package atomicfile

import (
	"os"
	"path/filepath"
	"testing"
)

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "key")
	for _, tc := range []struct {
		data string
		perm os.FileMode
	}{{"first", 0o644}, {"second, longer than the first", 0o600}, {"", 0o640}} {
		if err := WriteFile(p, []byte(tc.data), tc.perm); err != nil {
			t.Fatalf("WriteFile(%q): %v", tc.data, err)
		}
		got, err := os.ReadFile(p)
		if err != nil || string(got) != tc.data {
			t.Errorf("after WriteFile(%q): read %q, %v", tc.data, got, err)
		}
		fi, _ := os.Stat(p)
		if fi.Mode().Perm() != tc.perm {
			t.Errorf("after WriteFile(%q, %v): mode %v", tc.data, tc.perm, fi.Mode().Perm())
		}
	}
	// Nothing is left beside the file.
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("directory holds %d entries, want only the file: %v", len(ents), ents)
	}
}

func TestWriteFileFailureKeepsOld(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	if err := WriteFile(p, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A directory that is not empty in the way of the rename makes it
	// fail; no temporary file may remain.
	sub := filepath.Join(dir, "sub")
	if err := os.MkdirAll(filepath.Join(sub, "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(sub, []byte("new"), 0o644); err == nil {
		t.Fatal("WriteFile over a directory: got no error")
	}
	got, _ := os.ReadFile(p)
	if string(got) != "old" {
		t.Errorf("old file: got %q", got)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 2 {
		t.Errorf("temporary files left: %v", ents)
	}
}

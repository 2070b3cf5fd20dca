package qemu

import (
	"bytes"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestCopySparse(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src.fd")
	data := make([]byte, 1<<20)
	copy(data[300<<10:], "variable store header")
	if err := os.WriteFile(src, data, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		size     int64
		wantSize int64
	}{
		{"as it is", 0, 1 << 20},
		{"padded to a virt flash bank", virtFlashSize, virtFlashSize},
	} {
		dst := filepath.Join(dir, tc.name)
		if err := copySparse(src, dst, tc.size); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		got, err := os.ReadFile(dst)
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(got)) != tc.wantSize || !bytes.Equal(got[:len(data)], data) ||
			!bytes.Equal(got[len(data):], make([]byte, len(got)-len(data))) {
			t.Errorf("%s: got %d bytes, want %d: the source then zeros", tc.name, len(got), tc.wantSize)
		}
		// Zeros are holes: the 64 MiB copy takes about one 64 KiB block.
		st, _ := os.Stat(dst)
		if used := st.Sys().(*syscall.Stat_t).Blocks * 512; used > 1<<20 {
			t.Errorf("%s: %d bytes allocated, want the zeros left as holes", tc.name, used)
		}
	}
	if err := copySparse(src, filepath.Join(dir, "small"), 1<<10); err == nil {
		t.Error("copySparse into a smaller size succeeded")
	}
}

// TestFirmware prepares the UEFI images of both boards from the installed
// firmware: the vars are the VM's own copy, at the size the machine needs,
// and a vars file given in the Config is reused as it is.
func TestFirmware(t *testing.T) {
	for _, tc := range []struct {
		board    string
		wantSize int64 // of the vars copy; 0: as the template
	}{
		{"qemu-x86_64", 0},
		{"qemu-arm64", virtFlashSize},
	} {
		t.Run(tc.board, func(t *testing.T) {
			b := lookup(t, tc.board)
			tmpl, err := os.Stat(b.QEMU.FirmwareVars)
			if err != nil {
				missing(t, "firmware of %s not installed: %v", tc.board, err)
			}
			dir := t.TempDir()
			cfg := Config{Board: b, Disk: "unused"}
			code, vars, err := firmware(&cfg, dir)
			if err != nil {
				t.Fatal(err)
			}
			if code != b.QEMU.FirmwareCode {
				t.Errorf("code: got %s, want the installed %s (already the right size)", code, b.QEMU.FirmwareCode)
			}
			want := tc.wantSize
			if want == 0 {
				want = tmpl.Size()
			}
			if st, err := os.Stat(vars); err != nil || st.Size() != want || filepath.Dir(vars) != dir {
				t.Errorf("vars: got %s (%v), want a %d-byte copy in %s", vars, err, want, dir)
			}

			// Persistent vars: created once, then left alone.
			cfg.FirmwareVars = filepath.Join(dir, "persistent.fd")
			if _, _, err := firmware(&cfg, dir); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(cfg.FirmwareVars, []byte("written by the guest"), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, vars, err = firmware(&cfg, dir); err != nil || vars != cfg.FirmwareVars {
				t.Fatalf("second firmware: %s, %v", vars, err)
			}
			if got, _ := os.ReadFile(vars); string(got) != "written by the guest" {
				t.Errorf("persistent vars were replaced by the template")
			}
		})
	}
}

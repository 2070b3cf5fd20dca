package tpm

import (
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestOpenRefusesNonDevices(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct{ path, want string }{
		{filepath.Join(dir, "missing"), "no such file"},
		{dir, "not a character device"},
	} {
		if _, err := openDevice(tc.path); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("openDevice(%s): got %v, want an error containing %q", tc.path, err, tc.want)
		}
	}
}

// TestOpenIsBlocking checks the property the package exists for, on a
// character device every machine has.
func TestOpenIsBlocking(t *testing.T) {
	f, err := openDevice("/dev/null")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	flags, err := unix.FcntlInt(f.Fd(), unix.F_GETFL, 0)
	if err != nil {
		t.Fatal(err)
	}
	if flags&unix.O_NONBLOCK != 0 {
		t.Error("the descriptor is non-blocking")
	}
}

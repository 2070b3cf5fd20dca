package qemu

import (
	"os"
	"path/filepath"
	"testing"
)

func TestOutPath(t *testing.T) {
	root, err := filepath.Abs("..") // this package sits at the repository root
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		env, want string
	}{
		{"", filepath.Join(root, "out", "qemu-arm64", "vmlinuz")},
		{"/srv/build", "/srv/build/qemu-arm64/vmlinuz"},
	} {
		t.Setenv(EnvOut, tc.env)
		if tc.env == "" {
			os.Unsetenv(EnvOut)
		}
		got, err := OutPath("qemu-arm64", "vmlinuz")
		if err != nil || got != tc.want {
			t.Errorf("OutPath with %s=%q: got %q, %v, want %q", EnvOut, tc.env, got, err, tc.want)
		}
	}
}

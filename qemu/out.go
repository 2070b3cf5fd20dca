package qemu

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// Environment variables the VM tests read.
const (
	// EnvOut overrides where the image build's output is (default: out/
	// at the repository root).
	EnvOut = "SKERRY_OUT"
	// EnvVMTest set to 1 makes a missing kernel or image a test failure
	// instead of a skip: CI sets it after building the images.
	EnvVMTest = "SKERRY_VMTEST"
)

// OutPath returns the path of a build artifact of a board, such as
// OutPath("qemu-arm64", "vmlinuz"): $SKERRY_OUT/<board>/<name>, or
// out/<board>/<name> at the root of the repository that holds the working
// directory (tests run in their package's directory). It does not check
// that the file exists.
func OutPath(boardName, name string) (string, error) {
	if out := os.Getenv(EnvOut); out != "" {
		return filepath.Join(out, boardName, name), nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("find out dir: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "out", boardName, name), nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("find out dir: no go.mod above the working directory; set " + EnvOut)
		}
		dir = parent
	}
}

// Package testenv gates the tests that need more than Go: root, loop
// devices, swtpm, QEMU, a broker. Such a test is skipped on a machine
// that is not set up for it, and fails, never skips, when the environment
// says the machine is set up (make test sets SKERRY_INTEGRATION=1 after
// installing everything): "the whole suite" then means the whole suite.
package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// Environment variables that say the machine is set up.
const (
	// EnvIntegration set to 1: root, swtpm, mounts, cgroups, network
	// namespaces and the other tools of ci/install-deps are there.
	EnvIntegration = "SKERRY_INTEGRATION"
	// EnvVMTest set to 1: QEMU, firmware and both boards' images are there.
	EnvVMTest = "SKERRY_VMTEST"
)

// A Need is one thing a test needs of the machine; it returns what is
// missing, or nil.
type Need func() error

// Root needs the test to run as root.
func Root() Need {
	return func() error {
		if os.Geteuid() != 0 {
			return fmt.Errorf("needs root (make test runs the integration tests through sudo)")
		}
		return nil
	}
}

// Tools needs programs on PATH.
func Tools(names ...string) Need {
	return func() error {
		for _, n := range names {
			if _, err := exec.LookPath(n); err != nil {
				return fmt.Errorf("needs %s on PATH (ci/install-deps installs it)", n)
			}
		}
		return nil
	}
}

// File needs a path to exist (a device, a mounted filesystem).
func File(path, what string) Need {
	return func() error {
		if _, err := os.Stat(path); err != nil {
			return fmt.Errorf("needs %s (%s): %v", what, path, err)
		}
		return nil
	}
}

// Integration skips t unless SKERRY_INTEGRATION=1. When it is set, every
// need must hold: a missing one fails the test.
func Integration(t testing.TB, needs ...Need) {
	t.Helper()
	require(t, EnvIntegration, needs)
}

// VM is Integration for VM tests, gated by SKERRY_VMTEST=1; they are also
// skipped under -short.
func VM(t testing.TB, needs ...Need) {
	t.Helper()
	if testing.Short() {
		t.Skip("boots QEMU; skipped under -short")
	}
	require(t, EnvVMTest, needs)
}

func require(t testing.TB, env string, needs []Need) {
	t.Helper()
	if os.Getenv(env) != "1" {
		for _, n := range needs {
			if err := n(); err != nil {
				t.Skipf("%v; set %s=1 on a machine set up for it (make test does)", err, env)
			}
		}
		t.Skipf("set %s=1 to run (make test does)", env)
	}
	for _, n := range needs {
		if err := n(); err != nil {
			t.Fatalf("%s=1 says this machine is set up, but: %v", env, err)
		}
	}
}

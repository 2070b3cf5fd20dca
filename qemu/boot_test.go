package qemu

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// panicRE is the kernel's last words without a root filesystem, which is
// what a kernel booted without an initramfs must say: proof that QEMU, the
// board's machine and console, and the kernel all work.
var panicRE = regexp.MustCompile(`Kernel panic - not syncing: (VFS: Unable to mount root fs.*)`)

// TestBootPanic boots each board's kernel directly without an initramfs
// and waits for the panic, with the TPM attached where the kernel has the
// driver built in. NoReboot turns the panic into QEMU's exit.
func TestBootPanic(t *testing.T) {
	for _, tc := range []struct {
		board   string
		console string
		tpm     bool
		// tpmLine is what the kernel prints when it finds the TPM.
		// Debian's arm64 kernel has no tpm_tis (the image builds it as a
		// module), so arm64 boots without one here.
		tpmLine *regexp.Regexp
	}{
		{"qemu-x86_64", "ttyS0,115200", true, regexp.MustCompile(`tpm_tis \S+: 2\.0 TPM \(device-id (0x[0-9A-F]+)`)},
		{"qemu-arm64", "ttyAMA0", false, nil},
	} {
		t.Run(tc.board, func(t *testing.T) {
			b := lookup(t, tc.board)
			tools := []string{b.QEMU.Binary}
			if tc.tpm {
				tools = append(tools, "swtpm", "swtpm_setup")
			}
			vmTest(t, tools...)
			cfg := Config{
				Board:  b,
				Kernel: kernel(t, b),
				// Not quiet: the TPM driver reports at info level.
				Append:   "console=" + tc.console,
				NoReboot: true,
			}
			if tc.tpm {
				cfg.TPM = &TPM{}
			}
			vm := start(t, cfg, WithExpectTimeout(3*time.Minute))
			ctx := t.Context()
			if tc.tpmLine != nil {
				m, err := vm.ExpectRegexp(ctx, tc.tpmLine)
				if err != nil {
					t.Fatal(err)
				}
				t.Logf("TPM found %s after QEMU start: %s", m.Since.Round(time.Millisecond), m.Line)
			}
			m, err := vm.ExpectRegexp(ctx, panicRE)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("QEMU start to panic: %s (kernel's clock: %s)", m.Since.Round(time.Millisecond), kernelTime(m.Line))
			if m.Since <= 0 || m.At.Before(vm.Started()) {
				t.Errorf("match at %v, Since %v: want after QEMU start %v", m.At, m.Since, vm.Started())
			}
			if got, want := m.Groups[1], "VFS: Unable to mount root fs"; !strings.HasPrefix(got, want) {
				t.Errorf("submatch: got %q, want prefix %q", got, want)
			}
			wctx, cancel := context.WithTimeout(ctx, time.Minute)
			defer cancel()
			if err := vm.Wait(wctx); err != nil {
				t.Errorf("Wait after panic with NoReboot: got %v, want a clean exit", err)
			}
			// Nothing more can come: an expect ends at once.
			if _, err := vm.Expect(ctx, "never printed"); !errors.Is(err, ErrExited) {
				t.Errorf("Expect after exit: got %v, want ErrExited", err)
			}
		})
	}
}

// kernelTime extracts the kernel's own timestamp ("[    2.134529]").
func kernelTime(line string) string {
	if m := regexp.MustCompile(`^\[\s*([0-9.]+)\]`).FindStringSubmatch(line); m != nil {
		return m[1] + "s"
	}
	return "?"
}

// TestExpectTimeoutShowsTail checks that an expect that gives up says why
// with the console's last lines. The kernel panics and, without NoReboot
// or panic=, hangs: QEMU keeps running and the expect must time out.
func TestExpectTimeoutShowsTail(t *testing.T) {
	b := lookup(t, "qemu-x86_64")
	vmTest(t, b.QEMU.Binary)
	vm := start(t, Config{Board: b, Kernel: kernel(t, b), Append: "console=ttyS0,115200"})
	if _, err := vm.ExpectRegexp(t.Context(), panicRE); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	_, err := vm.Expect(ctx, "a line no kernel prints")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Expect: got %v, want a deadline error", err)
	}
	var ee *ExpectError
	if !errors.As(err, &ee) {
		t.Fatalf("Expect: got %T, want *ExpectError", err)
	}
	if len(ee.Tail) != tailLines {
		t.Errorf("tail: got %d lines, want %d", len(ee.Tail), tailLines)
	}
	for _, want := range []string{`"a line no kernel prints"`, "Kernel panic - not syncing", "last 40 console lines"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q:\n%v", want, err)
		}
	}
}

// TestUEFIFirmware boots each board's firmware with a blank disk: the
// firmware must start (the pflash images are right), find the virtio disk
// and fail to boot from it. The real disk image is the VM tests' business.
func TestUEFIFirmware(t *testing.T) {
	tried := regexp.MustCompile(`BdsDxe: failed to load (Boot\d+) "UEFI Misc Device`)
	for _, name := range []string{"qemu-x86_64", "qemu-arm64"} {
		t.Run(name, func(t *testing.T) {
			b := lookup(t, name)
			vmTest(t, b.QEMU.Binary, "qemu-img")
			if _, err := os.Stat(b.QEMU.FirmwareCode); err != nil {
				missing(t, "firmware of %s not installed: %v", name, err)
			}
			blank := filepath.Join(t.TempDir(), "blank.img")
			if err := os.WriteFile(blank, make([]byte, 1<<20), 0o600); err != nil {
				t.Fatal(err)
			}
			vm := start(t, Config{Board: b, Disk: blank}, WithExpectTimeout(3*time.Minute))
			m, err := vm.ExpectRegexp(t.Context(), tried)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("QEMU start to the firmware trying the disk: %s", m.Since.Round(time.Millisecond))
		})
	}
}

package vmtest

import (
	"context"
	"regexp"
	"testing"
	"time"

	"github.com/skerry/skerry/board"
	"github.com/skerry/skerry/image"
	"github.com/skerry/skerry/qemu"
)

// TestTooLittleRAM boots the x86_64 kernel and initramfs directly in a
// machine too small to unpack the initramfs: init must say so plainly
// instead of failing somewhere later.
func TestTooLittleRAM(t *testing.T) {
	b, err := board.Lookup("qemu-x86_64")
	if err != nil {
		t.Fatal(err)
	}
	kernel := imagePath(t, b.Name, image.VmlinuzFile)
	initrd := imagePath(t, b.Name, image.InitrdFile)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	vm, err := qemu.Start(ctx, qemu.Config{Board: b, Kernel: kernel, Initrd: initrd, MemoryMiB: 160, NoReboot: true},
		qemu.WithConsoleLog(t.Logf, "lowram| "))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { vm.Close() })
	m := expect(t, ctx, vm, regexp.MustCompile(`init: FATAL: the initramfs is incomplete: the kernel ran out of memory unpacking it \(RAM: [0-9]+ kB\)`), 2*time.Minute)
	t.Logf("told after %.1fs: %s", m.Since.Seconds(), m.Line)
	expect(t, ctx, vm, regexp.MustCompile(`give the machine more memory`), 10*time.Second)
}

// Command vm boots a built site image under QEMU with its console on the
// terminal: what `make run` does. The disk and the TPM persist between runs
// (in OUT/BOARD/run/), like a real box's; -fresh starts over.
//
// Beside the box it runs a tower on the host (its embedded hub receives
// the box's uplink: the tower tells the box the address at enrollment),
// data in OUT/run/tower kept across runs, with a tenant
// "demo" and an enrollment token: the box registers on its first boot
// with a TPM identity (the tower trusts the swtpm's maker CA) and its
// topics stream up. It prints the skerryctl commands that show the site.
// Ctrl-C powers the box off, then stops the tower. -tower=false boots the
// box alone.
//
// The disk is a sparse copy of the image whose site config opens the
// status API to QEMU's port forwarding behind a token (qemu.BenchHealth),
// kept in OUT/BOARD/run/health.token; a deployed box serves it on
// loopback only.
//
//	go run ./tools/vm -board qemu-x86_64
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/skerry/skerry/board"
	"github.com/skerry/skerry/image"
	"github.com/skerry/skerry/qemu"
)

func main() {
	if err := run(os.Stdout, os.Stderr, os.Args[1:]); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(os.Stderr, "vm: %v\n", err)
		}
		os.Exit(1)
	}
}

func run(stdout, stderr io.Writer, args []string) error {
	fs := flag.NewFlagSet("vm", flag.ContinueOnError)
	fs.SetOutput(stderr)
	boardName := fs.String("board", "", "board to boot: "+strings.Join(board.Names(), ", "))
	out := fs.String("out", "out", "output directory of mkimage")
	direct := fs.Bool("direct", false, "boot kernel and initramfs directly instead of the disk through UEFI")
	fresh := fs.Bool("fresh", false, "start with a blank /perm and a new TPM")
	withTower := fs.Bool("tower", true, "run a tower on the host beside the box, data in OUT/run/tower, and register the box there")
	withHub := fs.Bool("hub", false, "with -tower: run a separate \"tower hub\" beside the tower and make it the box's uplink.parent (default: the box uplinks to the tower's embedded hub, whose topics skerryctl tower sites shows)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	b, err := board.Lookup(*boardName)
	if err != nil {
		return err
	}
	dir := filepath.Join(*out, b.Name)
	disk := filepath.Join(dir, image.DiskFile)
	if _, err := os.Stat(disk); err != nil {
		return fmt.Errorf("no image for %s: %w (build it with `make image BOARD=%s`)", b.Name, err, b.Name)
	}
	state := filepath.Join(dir, "run")
	if *fresh {
		os.RemoveAll(state)
	}
	if err := os.MkdirAll(state, 0o755); err != nil {
		return err
	}
	runDisk, token, err := benchDisk(disk, state)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var tw *tower
	if *withTower {
		if tw, err = towerForBox(ctx, *out, runDisk, filepath.Join(state, "tpm"), b.Arch, *withHub); err != nil {
			return err
		}
		defer tw.Stop()
	}
	cfg := qemu.Config{
		Board:        b,
		Disk:         runDisk,
		DiskWrite:    true,
		FirmwareVars: filepath.Join(state, "efivars.fd"),
		TPM:          &qemu.TPM{StateDir: filepath.Join(state, "tpm")},
		Forwards:     []int{qemu.BenchHealthPort},
	}
	if *direct {
		cfg.Kernel, cfg.Initrd = filepath.Join(dir, image.VmlinuzFile), filepath.Join(dir, image.InitrdFile)
	}
	vm, err := qemu.Start(ctx, cfg, qemu.WithConsoleWriter(stdout, ""))
	if err != nil {
		return err
	}
	defer vm.Close()
	fmt.Fprintf(stderr, "vm: %s booting; status API: curl -H 'Authorization: Bearer %s' http://%s/v1/health; Ctrl-C powers it off\n", b.Name, token, vm.HostAddr(qemu.BenchHealthPort))
	if tw != nil {
		tw.PrintHelp(stderr, "")
		go watchRegistration(ctx, vm, tw, stderr)
	}
	select {
	case <-ctx.Done():
		// The power button: init stops the services and syncs /perm.
		fmt.Fprintln(stderr, "\nvm: pressing the power button")
		pctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := vm.Powerdown(pctx); err == nil {
			if err := vm.Wait(pctx); err == nil {
				return nil
			}
		}
		return vm.Quit(pctx)
	case <-waitCh(vm):
		return nil
	}
}

// benchDisk returns the run's disk, made on first use as a sparse copy of
// the image with the bench's status API settings on its ESP, and the
// status API's token.
func benchDisk(image, state string) (disk, token string, err error) {
	disk = filepath.Join(state, "disk.img")
	tokenFile := filepath.Join(state, "health.token")
	if data, err := os.ReadFile(tokenFile); err == nil {
		if _, err := os.Stat(disk); err == nil {
			return disk, strings.TrimSpace(string(data)), nil
		}
	}
	token = qemu.NewToken()
	if err := qemu.BenchDisk(image, disk, token); err != nil {
		return "", "", err
	}
	return disk, token, os.WriteFile(tokenFile, []byte(token+"\n"), 0o600)
}

func waitCh(vm *qemu.VM) <-chan error {
	ch := make(chan error, 1)
	go func() { ch <- vm.Wait(context.Background()) }()
	return ch
}

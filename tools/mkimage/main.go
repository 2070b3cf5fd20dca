// Command mkimage builds a Skerry site image for one board: the kernel, a
// zstd initramfs and a GPT disk image that boots through UEFI, with a
// manifest beside them.
//
//	go run ./tools/mkimage -board qemu-x86_64 -out out
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/skerry/skerry/board"
	"github.com/skerry/skerry/image"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Stdout, os.Stderr, os.Args[1:]); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(os.Stderr, "mkimage: %v\n", err)
		}
		os.Exit(1)
	}
}

func run(ctx context.Context, stdout, stderr io.Writer, args []string) error {
	fs := flag.NewFlagSet("mkimage", flag.ContinueOnError)
	fs.SetOutput(stderr)
	boardName := fs.String("board", "", "board to build for: "+strings.Join(board.Names(), ", "))
	out := fs.String("out", "out", "output directory; the image goes to OUT/BOARD, downloads to OUT/cache")
	version := fs.String("version", "", "image version (default: git describe of the tree)")
	site := fs.String("site-config", "", "site.json to bake into the image (default: DHCP, status API on loopback 127.0.0.1:8080)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *boardName == "" {
		return fmt.Errorf("-board is required: one of %s", strings.Join(board.Names(), ", "))
	}
	b, err := board.Lookup(*boardName)
	if err != nil {
		return err
	}
	moduleDir, err := moduleRoot()
	if err != nil {
		return err
	}
	if *version == "" {
		*version = gitVersion(moduleDir)
	}
	outAbs, err := filepath.Abs(*out)
	if err != nil {
		return err
	}
	bld := &image.Builder{
		Board:      b,
		OutDir:     filepath.Join(outAbs, b.Name),
		CacheDir:   filepath.Join(outAbs, "cache"),
		ModuleDir:  moduleDir,
		Version:    *version,
		SiteConfig: *site,
		Progress:   stdout,
	}
	m, err := bld.Build(ctx)
	if err != nil {
		return err
	}
	for _, f := range m.Files {
		fmt.Fprintf(stdout, "  %-12s %8.1f MB  sha256 %s\n", f.Name, float64(f.Size)/1e6, f.SHA256)
	}
	return nil
}

// moduleRoot finds this Go module's root, where the builds run.
func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	gomod := strings.TrimSpace(string(out))
	if err != nil || gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("run mkimage inside the Skerry source tree (go env GOMOD found no module)")
	}
	return filepath.Dir(gomod), nil
}

func gitVersion(dir string) string {
	cmd := exec.Command("git", "describe", "--always", "--dirty", "--tags")
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		return "dev"
	}
	return strings.TrimSpace(string(out))
}

package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/skerry/skerry/qemu"
	"github.com/skerry/skerry/qemu/swtpm"
	"github.com/skerry/skerry/services/contract"
	"github.com/skerry/skerry/services/siteconfig"
)

// towerForBox manufactures the box's TPM (so that the tower can trust its
// maker CA from the start), starts the tower in OUT/run/tower and writes
// the site config that registers the box there onto its disk's ESP.
func towerForBox(ctx context.Context, out, disk, tpmState, arch string, hub bool) (*tower, error) {
	caDir := filepath.Join(tpmState, "ca") // where qemu's bench keeps it
	done, err := swtpm.Manufactured(tpmState)
	if err != nil {
		return nil, err
	}
	if !done {
		work, err := os.MkdirTemp("", "vm-tpm")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(work)
		if err := os.MkdirAll(tpmState, 0o700); err != nil {
			return nil, err
		}
		if err := swtpm.Manufacture(ctx, tpmState, caDir, work, "QEMU"); err != nil {
			return nil, err
		}
	}
	tw, err := startTower(ctx, filepath.Join(out, "run", "tower"), swtpm.CACerts(caDir), hub)
	if err != nil {
		return nil, err
	}
	if err := writeSiteConfig(disk, tw, arch); err != nil {
		tw.Stop()
		return nil, err
	}
	return tw, nil
}

// writeSiteConfig points the site config on disk's ESP at the tower (as
// the guest reaches it) with the demo token; uplink.parent only with a
// separate hub (cleared otherwise, so that the box uplinks to the address
// the tower tells it at enrollment: its embedded hub); the rest (the bench's status API) stays. Written at every
// run, as a technician would rewrite it: the tower's port is kept, so
// this changes nothing on a box already registered.
func writeSiteConfig(disk string, tw *tower, arch string) error {
	cfg := siteconfig.Default()
	if data, err := qemu.ReadESPFile(disk, contract.ESPSiteConfig); err == nil {
		if cfg, err = siteconfig.Parse(data); err != nil {
			return fmt.Errorf("site config on the ESP of %s: %w", disk, err)
		}
	}
	cfg.Version = siteconfig.Version
	if cfg.Hostname == "" {
		cfg.Hostname = "run-" + arch
	}
	cfg.Tower = siteconfig.Tower{URL: tw.GuestURL(), CA: tw.CA, EnrollmentToken: tw.Token}
	cfg.Uplink.Parent = tw.GuestHub()
	data, err := cfg.Marshal()
	if err != nil {
		return err
	}
	return qemu.WriteESPFile(disk, contract.ESPSiteConfig, data)
}

// siteRE is the agent's line on the console once the box has an identity:
// registered now, or loaded from /perm on a later boot.
var siteRE = regexp.MustCompile(`agent: (?:registered as site (\S+) with|site (\S+): identity from)`)

// watchRegistration prints the commands again with the site's ID once the
// console shows it.
func watchRegistration(ctx context.Context, vm *qemu.VM, tw *tower, w io.Writer) {
	for {
		if m := siteRE.FindStringSubmatch(vm.Console()); m != nil {
			site := m[1] + m[2]
			fmt.Fprintf(w, "\nvm: the box is site %s at the tower.", site)
			tw.PrintHelp(w, site)
			return
		}
		select {
		case <-time.After(2 * time.Second):
		case <-ctx.Done():
			return
		}
	}
}

package qemu

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"

	"github.com/skerry/skerry/services/contract"
	"github.com/skerry/skerry/services/siteconfig"
)

// espOffset is where a Skerry disk image's EFI system partition starts
// (partition 1, at 1 MiB).
const espOffset = 1 << 20

// WriteESPFile writes data as path on a raw disk image's EFI system
// partition, with mtools, as an operator writes a site config at flash
// time.
func WriteESPFile(disk, path string, data []byte) error {
	dir, err := os.MkdirTemp("", "esp")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	f := filepath.Join(dir, "file")
	if err := os.WriteFile(f, data, 0o644); err != nil {
		return err
	}
	if err := mtools("mcopy", "-o", "-i", disk+"@@"+strconv.Itoa(espOffset), f, "::/"+path); err != nil {
		return fmt.Errorf("write %s onto the ESP of %s: %w", path, disk, err)
	}
	return nil
}

// ReadESPFile reads path from a raw disk image's EFI system partition.
func ReadESPFile(disk, path string) ([]byte, error) {
	dir, err := os.MkdirTemp("", "esp")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	f := filepath.Join(dir, "file")
	if err := mtools("mcopy", "-i", disk+"@@"+strconv.Itoa(espOffset), "::/"+path, f); err != nil {
		return nil, fmt.Errorf("read %s from the ESP of %s: %w", path, disk, err)
	}
	return os.ReadFile(f)
}

func mtools(name string, args ...string) error {
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s: %v: %s", name, err, out)
	}
	return nil
}

// BenchHealthPort is the guest port of the status API on the bench.
const BenchHealthPort = 8080

// BenchHealth is the status API's site config on the QEMU bench: QEMU's
// port forwarding reaches the guest from its user-mode network (10.0.2.2),
// not from the guest's loopback, so the bench opens TCP to the network,
// behind token. A deployed box keeps the default, loopback only.
func BenchHealth(token string) siteconfig.Health {
	return siteconfig.Health{Listen: fmt.Sprintf("0.0.0.0:%d", BenchHealthPort), Token: token}
}

// NewToken returns a random status API token.
func NewToken() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// SetBenchHealth opens the status API of a raw disk image to the bench:
// it reads the site config on its ESP (the image's, or defaults), sets
// BenchHealth(token), and writes it back.
func SetBenchHealth(disk, token string) error {
	cfg := siteconfig.Default()
	if data, err := ReadESPFile(disk, contract.ESPSiteConfig); err == nil {
		if cfg, err = siteconfig.Parse(data); err != nil {
			return fmt.Errorf("site config on the ESP of %s: %w", disk, err)
		}
	}
	cfg.Health = BenchHealth(token)
	data, err := cfg.Marshal()
	if err != nil {
		return err
	}
	return WriteESPFile(disk, contract.ESPSiteConfig, data)
}

// BenchDisk makes dst, a sparse copy of the disk image src whose site
// config opens the status API to the bench with token (SetBenchHealth).
// The guest may write to it (Config.DiskWrite).
func BenchDisk(src, dst, token string) error {
	tmp := dst + ".tmp"
	if out, err := exec.Command("cp", "--sparse=always", src, tmp).CombinedOutput(); err != nil {
		return fmt.Errorf("copy %s: %v: %s", src, err, out)
	}
	if err := SetBenchHealth(tmp, token); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, dst)
}

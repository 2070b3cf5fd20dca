package qemu

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// virtFlashSize is the size of each of the two flash banks of QEMU's arm
// virt machine; it refuses a pflash image of any other size. (q35 maps the
// images at whatever size they have, so OVMF's files are used as they are.)
const virtFlashSize = 64 << 20

// firmware returns the code and variable-store images for UEFI boot. The
// code is shared read-only; the variables are the VM's own, because the
// firmware writes them (boot entries, BootNext, the variable store's own
// first-boot formatting on arm64).
func firmware(c *Config, dir string) (code, vars string, err error) {
	q := c.Board.QEMU
	if q.FirmwareCode == "" || q.FirmwareVars == "" {
		return "", "", fmt.Errorf("%w: board %s has no UEFI firmware for booting from disk", ErrConfig, c.Board.Name)
	}
	var size int64 // 0: as it is
	if q.Machine == "virt" {
		size = virtFlashSize
	}
	code = q.FirmwareCode
	if size > 0 {
		st, err := os.Stat(code)
		if err != nil {
			return "", "", fmt.Errorf("stat firmware: %w", err)
		}
		if st.Size() != size {
			// Debian's AAVMF is already padded; a firmware built elsewhere
			// may not be.
			code = filepath.Join(dir, "firmware-code.fd")
			if err := copySparse(q.FirmwareCode, code, size); err != nil {
				return "", "", err
			}
		}
	}
	vars = c.FirmwareVars
	if vars == "" {
		vars = filepath.Join(dir, "firmware-vars.fd")
	}
	switch _, err := os.Stat(vars); {
	case errors.Is(err, fs.ErrNotExist):
		if err := copySparse(q.FirmwareVars, vars, size); err != nil {
			return "", "", err
		}
	case err != nil:
		return "", "", fmt.Errorf("stat firmware vars: %w", err)
	}
	return code, vars, nil
}

// copySparse copies src to a new file dst and extends it with zeros to
// size (when larger). Blocks of zeros become holes: AAVMF's 64 MiB images
// are nearly all zeros, and a VM's copy then costs no disk or tmpfs space.
// dst appears only when complete.
func copySparse(src, dst string, size int64) (err error) {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("copy firmware: %w", err)
	}
	defer in.Close()
	tmp := dst + ".tmp"
	out, err := os.OpenFile(tmp, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("copy firmware: %w", err)
	}
	defer func() {
		if err != nil {
			out.Close()
			os.Remove(tmp)
		}
	}()
	buf := make([]byte, 64<<10)
	zero := make([]byte, len(buf))
	var off int64
	for {
		n, rerr := io.ReadFull(in, buf)
		if n > 0 {
			if !bytes.Equal(buf[:n], zero[:n]) {
				if _, err := out.WriteAt(buf[:n], off); err != nil {
					return fmt.Errorf("copy firmware: %w", err)
				}
			}
			off += int64(n)
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			return fmt.Errorf("copy firmware: %w", rerr)
		}
	}
	if size > 0 && off > size {
		return fmt.Errorf("copy firmware: %s is %d bytes, more than the %d the machine maps", src, off, size)
	}
	if err := out.Truncate(max(off, size)); err != nil {
		return fmt.Errorf("copy firmware: %w", err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("copy firmware: %w", err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		return fmt.Errorf("copy firmware: %w", err)
	}
	return nil
}

// Package swtpm runs software TPMs (swtpm) for the QEMU bench and for
// tests, one way: state made blank, or manufactured as a vendor would
// (endorsement keys with a certificate from a CA of our own), served on a
// command socket for tests or a control socket for QEMU.
//
// swtpm splits its options at commas, so no path given to it may hold one.
package swtpm

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// The files swtpm_localca keeps in its CA directory.
const (
	CARootCert   = "swtpm-localca-rootca-cert.pem"
	CAIssuerCert = "issuercert.pem"
)

// CACerts returns the PEM files of the CA that certified a manufactured
// TPM's EK: the root first, then the issuer that signed the EK
// certificate. A tower that trusts them takes the TPM for hardware.
func CACerts(caDir string) []string {
	return []string{filepath.Join(caDir, CARootCert), filepath.Join(caDir, CAIssuerCert)}
}

// Manufactured reports whether state holds a TPM already.
func Manufactured(state string) (bool, error) {
	_, err := os.Stat(filepath.Join(state, "tpm2-00.permall"))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("stat tpm state: %w", err)
	}
	return true, nil
}

// Manufacture does what a TPM vendor does before shipping: create the
// endorsement keys in state and certify them with swtpm's local CA, whose
// key and certificates live in caDir (created on first use, and shared by
// every TPM manufactured with the same caDir). model names the platform in
// the certificate. The configuration files go in work, private to this
// call, so nothing reads or writes the system-wide CA in
// /var/lib/swtpm-localca.
func Manufacture(ctx context.Context, state, caDir, work, model string) error {
	localca, err := exec.LookPath("swtpm_localca")
	if err != nil {
		return fmt.Errorf("manufacture tpm: %w", err)
	}
	for _, d := range []string{state, caDir, work} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return fmt.Errorf("manufacture tpm: %w", err)
		}
	}
	files := map[string]string{
		"swtpm_setup.conf": "create_certs_tool = " + localca + "\n" +
			"create_certs_tool_config = " + filepath.Join(work, "swtpm-localca.conf") + "\n" +
			"create_certs_tool_options = " + filepath.Join(work, "swtpm-localca.options") + "\n" +
			"active_pcr_banks = sha256\n",
		"swtpm-localca.conf": "statedir = " + caDir + "\n" +
			"signingkey = " + filepath.Join(caDir, "signkey.pem") + "\n" +
			"issuercert = " + filepath.Join(caDir, CAIssuerCert) + "\n" +
			"certserial = " + filepath.Join(caDir, "certserial") + "\n",
		"swtpm-localca.options": "--platform-manufacturer Skerry\n" +
			"--platform-version 2.1\n--platform-model " + model + "\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(work, name), []byte(content), 0o600); err != nil {
			return fmt.Errorf("manufacture tpm: %w", err)
		}
	}
	cmd := exec.CommandContext(ctx, "swtpm_setup", "--tpm2", "--tpmstate", state,
		"--create-ek-cert", "--create-platform-cert", "--lock-nvram",
		"--pcr-banks", "sha256", "--config", filepath.Join(work, "swtpm_setup.conf"))
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("manufacture tpm: %w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// Mode says how swtpm is reached.
type Mode int

const (
	// Socket serves the TPM's command channel on a unix socket (tests:
	// the TPM path "unix:SOCKET").
	Socket Mode = iota
	// QEMUControl serves the control channel on the listening socket
	// passed as fd 3 (cmd.ExtraFiles[0]); QEMU's tpm-emulator connects to
	// it. swtpm ends with QEMU's connection.
	QEMUControl
)

// Config describes one swtpm process.
type Config struct {
	State string // TPM state directory
	Dir   string // its sockets and log
	Mode  Mode
}

// SocketPath is the command socket of a Socket-mode swtpm.
func (c Config) SocketPath() string { return filepath.Join(c.Dir, "tpm.sock") }

// Command returns the swtpm command for c, not started.
func Command(c Config) *exec.Cmd {
	args := []string{"socket", "--tpm2", "--tpmstate", "dir=" + c.State,
		"--log", "file=" + filepath.Join(c.Dir, "swtpm.log") + ",level=2"}
	switch c.Mode {
	case QEMUControl:
		// End with QEMU's connection: a swtpm never outlives its VM, even
		// when the bench is killed before it can clean up.
		args = append(args, "--ctrl", "type=unixio,fd=3", "--terminate")
	default:
		args = append(args, "--server", "type=unixio,path="+c.SocketPath(),
			"--ctrl", "type=unixio,path="+filepath.Join(c.Dir, "ctrl.sock"),
			"--flags", "not-need-init,startup-clear")
	}
	return exec.Command("swtpm", args...)
}

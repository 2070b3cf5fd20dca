package qemu

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// swtpm is a running software TPM that QEMU connects to.
type swtpm struct {
	proc   *process
	socket string // its control socket, for QEMU's -chardev
	caDir  string
}

// The files swtpm_localca keeps in its CA directory.
const (
	caRootCert   = "swtpm-localca-rootca-cert.pem"
	caIssuerCert = "issuercert.pem"
)

// startTPM manufactures the TPM when its state is blank and starts swtpm
// on a control socket that the bench creates and hands over as a file
// descriptor, so QEMU can connect as soon as it starts.
func startTPM(ctx context.Context, t *TPM, dir string) (*swtpm, error) {
	state := t.StateDir
	if state == "" {
		state = filepath.Join(dir, "tpm")
	}
	caDir := t.CADir
	if caDir == "" {
		caDir = filepath.Join(state, "ca")
	}
	if err := os.MkdirAll(state, 0o700); err != nil {
		return nil, fmt.Errorf("create tpm state: %w", err)
	}
	if !t.Blank {
		switch _, err := os.Stat(filepath.Join(state, "tpm2-00.permall")); {
		case errors.Is(err, fs.ErrNotExist):
			if err := manufacture(ctx, state, caDir, dir); err != nil {
				return nil, err
			}
		case err != nil:
			return nil, fmt.Errorf("stat tpm state: %w", err)
		}
	}

	socket := filepath.Join(dir, "tpm.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: socket, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("listen tpm socket: %w", err)
	}
	// swtpm owns the socket from here on; the bench's copy must not unlink
	// the path when it closes.
	l.SetUnlinkOnClose(false)
	defer l.Close()
	f, err := l.File()
	if err != nil {
		return nil, fmt.Errorf("listen tpm socket: %w", err)
	}
	defer f.Close()

	cmd := exec.Command("swtpm", "socket", "--tpm2",
		"--tpmstate", "dir="+state,
		"--ctrl", "type=unixio,fd=3", // ExtraFiles[0]
		// End with QEMU's connection: a swtpm never outlives its VM, even
		// when the bench is killed before it can clean up.
		"--terminate",
		"--log", "file="+filepath.Join(dir, "swtpm.log")+",level=2")
	cmd.ExtraFiles = []*os.File{f}
	proc, err := startProcess(cmd)
	if err != nil {
		return nil, fmt.Errorf("start swtpm: %w", err)
	}
	return &swtpm{proc: proc, socket: socket, caDir: caDir}, nil
}

// manufacture does what a TPM vendor does before shipping: create the
// endorsement keys and certify them with a CA, here swtpm's local CA in
// caDir. The configuration files are private to the VM, so nothing reads
// or writes the system-wide CA in /var/lib/swtpm-localca.
func manufacture(ctx context.Context, state, caDir, dir string) error {
	localca, err := exec.LookPath("swtpm_localca")
	if err != nil {
		return fmt.Errorf("manufacture tpm: %w", err)
	}
	if err := os.MkdirAll(caDir, 0o700); err != nil {
		return fmt.Errorf("manufacture tpm: %w", err)
	}
	files := map[string]string{
		"swtpm_setup.conf": "create_certs_tool = " + localca + "\n" +
			"create_certs_tool_config = " + filepath.Join(dir, "swtpm-localca.conf") + "\n" +
			"create_certs_tool_options = " + filepath.Join(dir, "swtpm-localca.options") + "\n" +
			"active_pcr_banks = sha256\n",
		"swtpm-localca.conf": "statedir = " + caDir + "\n" +
			"signingkey = " + filepath.Join(caDir, "signkey.pem") + "\n" +
			"issuercert = " + filepath.Join(caDir, caIssuerCert) + "\n" +
			"certserial = " + filepath.Join(caDir, "certserial") + "\n",
		"swtpm-localca.options": "--platform-manufacturer Skerry\n" +
			"--platform-version 2.1\n--platform-model QEMU\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			return fmt.Errorf("manufacture tpm: %w", err)
		}
	}
	cmd := exec.CommandContext(ctx, "swtpm_setup", "--tpm2", "--tpmstate", state,
		"--create-ek-cert", "--create-platform-cert", "--lock-nvram",
		"--pcr-banks", "sha256", "--config", filepath.Join(dir, "swtpm_setup.conf"))
	cmd.SysProcAttr = sysProcAttr()
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("manufacture tpm: %w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// TPMCACerts returns the PEM files of the CA that certified the TPM's EK:
// the root first, then the issuer that signed the EK certificate. They
// exist only for a manufactured TPM (not Blank); nil without a TPM.
func (vm *VM) TPMCACerts() []string {
	if vm.tpm == nil {
		return nil
	}
	return []string{
		filepath.Join(vm.tpm.caDir, caRootCert),
		filepath.Join(vm.tpm.caDir, caIssuerCert),
	}
}

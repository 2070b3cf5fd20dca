package agent

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-tpm/legacy/tpm2"
	"github.com/google/go-tpm/tpmutil"
)

// requireSWTPM skips the test unless integration tests are on and swtpm is
// installed.
func requireSWTPM(t *testing.T) {
	t.Helper()
	if os.Getenv("SKERRY_INTEGRATION") != "1" {
		t.Skip("needs swtpm: set SKERRY_INTEGRATION=1 (make test does)")
	}
	for _, bin := range []string{"swtpm", "swtpm_setup", "swtpm_localca"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("needs %s on PATH (apt-get install swtpm swtpm-tools)", bin)
		}
	}
}

// swtpm is a software TPM serving its command socket, one per test. Its
// state lives in a directory of its own, so a test can stop it and start
// another on the same state: the box rebooting.
type swtpm struct {
	state string
	sock  string
	cmd   *exec.Cmd
	done  chan struct{}
}

// newTPMState returns a TPM state directory. With ekCert the TPM is
// manufactured as a vendor would, with an EK certificate in its NV issued
// by a CA private to the test; without, go-attestation creates the EK from
// the standard template and there is no certificate.
func newTPMState(t *testing.T, ekCert bool) string {
	t.Helper()
	dir := t.TempDir()
	state := filepath.Join(dir, "state")
	if err := os.MkdirAll(state, 0o700); err != nil {
		t.Fatal(err)
	}
	if ekCert {
		manufacture(t, dir, state)
	}
	return state
}

// manufacture creates the EK and its certificate with swtpm_setup and
// swtpm's local CA, configured by private files so nothing touches the
// system-wide CA (the same steps as qemu/tpm.go).
func manufacture(t *testing.T, dir, state string) {
	t.Helper()
	localca, _ := exec.LookPath("swtpm_localca")
	ca := filepath.Join(dir, "ca")
	files := map[string]string{
		"swtpm_setup.conf": "create_certs_tool = " + localca + "\n" +
			"create_certs_tool_config = " + filepath.Join(dir, "swtpm-localca.conf") + "\n" +
			"create_certs_tool_options = " + filepath.Join(dir, "swtpm-localca.options") + "\n" +
			"active_pcr_banks = sha256\n",
		"swtpm-localca.conf": "statedir = " + ca + "\n" +
			"signingkey = " + filepath.Join(ca, "signkey.pem") + "\n" +
			"issuercert = " + filepath.Join(ca, "issuercert.pem") + "\n" +
			"certserial = " + filepath.Join(ca, "certserial") + "\n",
		"swtpm-localca.options": "--platform-manufacturer Skerry\n--platform-version 2.1\n--platform-model test\n",
	}
	if err := os.MkdirAll(ca, 0o700); err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	out, err := exec.Command("swtpm_setup", "--tpm2", "--tpmstate", state, "--create-ek-cert",
		"--pcr-banks", "sha256", "--config", filepath.Join(dir, "swtpm_setup.conf")).CombinedOutput()
	if err != nil {
		t.Fatalf("swtpm_setup: %v: %s", err, strings.TrimSpace(string(out)))
	}
}

// startSWTPM starts swtpm on state and stops it when the test ends. swtpm
// splits its options at commas, so no path may hold one: no commas in test
// names.
func startSWTPM(t *testing.T, state string) *swtpm {
	t.Helper()
	dir := t.TempDir()
	s := &swtpm{state: state, sock: filepath.Join(dir, "tpm.sock"), done: make(chan struct{})}
	s.cmd = exec.Command("swtpm", "socket", "--tpm2",
		"--server", "type=unixio,path="+s.sock,
		"--ctrl", "type=unixio,path="+filepath.Join(dir, "ctrl.sock"),
		"--flags", "not-need-init,startup-clear",
		"--tpmstate", "dir="+state,
		"--log", "file="+filepath.Join(dir, "swtpm.log")+",level=1")
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start swtpm: %v", err)
	}
	go func() { s.cmd.Wait(); close(s.done) }()
	t.Cleanup(s.stop)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(s.sock); err == nil {
			return s
		}
		select {
		case <-s.done:
			t.Fatalf("swtpm exited: %v", s.cmd.ProcessState)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("swtpm: no socket after 10s")
		}
	}
}

// path is the TPM path the agent takes.
func (s *swtpm) path() string { return "unix:" + s.sock }

// stop ends swtpm, as a power cut would; its state stays.
func (s *swtpm) stop() {
	select {
	case <-s.done:
		return
	default:
	}
	s.cmd.Process.Kill()
	<-s.done
}

// loadedHandles returns the transient objects and sessions loaded in the
// TPM. swtpm has no resource manager, so whatever the agent forgot to
// flush is still there after it stopped.
func (s *swtpm) loadedHandles(t *testing.T) []tpmutil.Handle {
	t.Helper()
	ch, err := openChannel(s.path())
	if err != nil {
		t.Fatal(err)
	}
	defer ch.Close()
	var hs []tpmutil.Handle
	for _, typ := range []tpm2.HandleType{tpm2.HandleTypeTransient, tpm2.HandleTypeHMACSession, tpm2.HandleTypePolicySession} {
		vals, _, err := tpm2.GetCapability(ch, tpm2.CapabilityHandles, 64, uint32(typ)<<24)
		if err != nil {
			t.Fatalf("list TPM handles: %v", err)
		}
		for _, v := range vals {
			hs = append(hs, v.(tpmutil.Handle))
		}
	}
	return hs
}

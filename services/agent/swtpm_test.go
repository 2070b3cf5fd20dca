package agent

import (
	"testing"

	"github.com/google/go-tpm/legacy/tpm2"
	"github.com/google/go-tpm/tpmutil"

	"github.com/skerry/skerry/qemu/swtpm"
	"github.com/skerry/skerry/services/internal/tpm"
	"github.com/skerry/skerry/services/tower/towertest"
)

// newSWTPM starts a software TPM for the test: when ekCert, manufactured
// with an EK certificate from the test TPM maker (towertest.MakerRoots),
// which towers trusting it take for hardware; else with no EK certificate
// (go-attestation creates the EK from the standard template), a software
// identity.
func newSWTPM(t *testing.T, ekCert bool) *swtpm.Process {
	t.Helper()
	if ekCert {
		return towertest.NewSWTPM(t).Process
	}
	return towertest.NewUntrustedSWTPM(t, false).Process
}

// reboot stops sw as a power cut would and starts a new swtpm on its state.
func reboot(t *testing.T, sw *swtpm.Process) *swtpm.Process {
	t.Helper()
	sw.Stop()
	return swtpm.New(t, swtpm.Options{State: sw.State()})
}

// loadedHandles returns the transient objects and sessions loaded in the
// TPM. swtpm has no resource manager, so whatever the agent forgot to
// flush is still there after it stopped.
func loadedHandles(t *testing.T, s *swtpm.Process) []tpmutil.Handle {
	t.Helper()
	ch, err := tpm.Open(s.Path())
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

package towertest

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/google/go-attestation/attest"

	"github.com/skerry/skerry/qemu/swtpm"
	"github.com/skerry/skerry/qemu/testenv"
	"github.com/skerry/skerry/services/internal/tpm"
	"github.com/skerry/skerry/services/tower/ektrust"
)

// SWTPM is one software TPM (swtpm) process, reached over its unix socket.
type SWTPM struct{ *swtpm.Process }

// MakerRoots trusts the test TPM maker: a swtpm local CA, made with the
// first TPM NewSWTPM manufactures in a test process. Every tower Start
// starts trusts it, so TPMs from NewSWTPM are hardware identities, and
// those from NewUntrustedSWTPM software ones.
var MakerRoots, _ = ektrust.New()

var maker struct {
	sync.Mutex
	dir    string
	loaded bool
}

// makerCA returns the test maker's CA directory.
func makerCA(t testing.TB) string {
	if maker.dir == "" {
		d, err := os.MkdirTemp("", "towertest-maker-")
		if err != nil {
			t.Fatal(err)
		}
		maker.dir = d
	}
	return maker.dir
}

// StartSWTPM starts swtpm with fresh state in dir.
func StartSWTPM(dir string) (*SWTPM, error) {
	p, err := swtpm.Start(swtpm.Config{State: filepath.Join(dir, "state"), Dir: dir})
	if err != nil {
		return nil, err
	}
	return &SWTPM{p}, nil
}

// NewSWTPM starts a swtpm manufactured by the test maker (an EK
// certificate that towers from Start trust) and stops it when the test
// ends. It skips the test unless SKERRY_INTEGRATION=1 (and fails when
// that is set but swtpm is missing).
func NewSWTPM(t testing.TB) *SWTPM {
	t.Helper()
	maker.Lock()
	defer maker.Unlock()
	p := swtpm.New(t, swtpm.Options{Manufactured: true, CADir: makerCA(t)})
	if !maker.loaded {
		if err := MakerRoots.AddFiles(swtpm.CACerts(maker.dir)...); err != nil {
			t.Fatal(err)
		}
		maker.loaded = true
	}
	return &SWTPM{p}
}

// NewUntrustedSWTPM starts a swtpm whose EK no trusted maker certified:
// with no EK certificate at all, or (otherMaker) with one from a CA of
// its own that no tower trusts.
func NewUntrustedSWTPM(t testing.TB, otherMaker bool) *SWTPM {
	t.Helper()
	return &SWTPM{swtpm.New(t, swtpm.Options{Manufactured: otherMaker})}
}

// RequireIntegration skips the test unless SKERRY_INTEGRATION=1 (make test
// sets it), and fails when that is set but swtpm is missing.
func RequireIntegration(t testing.TB) {
	t.Helper()
	testenv.Integration(t, testenv.Tools("swtpm"))
}

// Close stops swtpm.
func (s *SWTPM) Close() error {
	s.Stop()
	return nil
}

// Open connects to the TPM through go-attestation. swtpm serves one
// connection at a time: close the TPM before opening it again.
func (s *SWTPM) Open() (*attest.TPM, error) {
	ch, err := tpm.Open(s.Path())
	if err != nil {
		return nil, fmt.Errorf("dial swtpm: %w", err)
	}
	t, err := attest.OpenTPM(&attest.OpenConfig{CommandChannel: ch})
	if err != nil {
		ch.Close()
		return nil, fmt.Errorf("open tpm: %w", err)
	}
	return t, nil
}

// NewAgent starts a swtpm for the test and returns an agent on it for the
// tower, closed when the test ends.
func (tw *Tower) NewAgent(t testing.TB) *Agent {
	t.Helper()
	return tw.AgentOn(t, NewSWTPM(t))
}

// AgentOn returns an agent on an existing swtpm (one at a time).
func (tw *Tower) AgentOn(t testing.TB, s *SWTPM) *Agent {
	t.Helper()
	tpm, err := s.Open()
	if err != nil {
		t.Fatal(err)
	}
	a, err := NewAgent(tw.URL, tw.CAPEM, tpm)
	if err != nil {
		tpm.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

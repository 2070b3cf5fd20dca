package towertest

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/google/go-attestation/attest"

	"github.com/skerry/skerry/qemu/swtpm"
	"github.com/skerry/skerry/qemu/testenv"
	"github.com/skerry/skerry/services/internal/tpm"
)

// SWTPM is one software TPM (swtpm) process, reached over its unix socket.
// It has no EK certificate: the EK is created by go-attestation from the
// standard template on first use, so a tower takes it for a software TPM
// unless the test says otherwise.
type SWTPM struct{ *swtpm.Process }

// StartSWTPM starts swtpm with fresh state in dir.
func StartSWTPM(dir string) (*SWTPM, error) {
	p, err := swtpm.Start(swtpm.Config{State: filepath.Join(dir, "state"), Dir: dir})
	if err != nil {
		return nil, err
	}
	return &SWTPM{p}, nil
}

// NewSWTPM starts a swtpm for the test and stops it when the test ends. It
// skips the test unless SKERRY_INTEGRATION=1 (and fails when that is set
// but swtpm is missing).
func NewSWTPM(t testing.TB) *SWTPM {
	t.Helper()
	return &SWTPM{swtpm.New(t, swtpm.Options{})}
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

package towertest

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/go-attestation/attest"
)

// SWTPM is one software TPM (swtpm) process, reached over its unix socket.
type SWTPM struct {
	stderr LogBuffer
	dir    string
	cmd    *exec.Cmd
	done   chan struct{}
}

// StartSWTPM starts swtpm with fresh state in dir. It has no EK certificate:
// the EK is created by go-attestation from the standard template on first
// use, so towers in tests accept EKs without certificates.
func StartSWTPM(dir string) (*SWTPM, error) {
	if _, err := exec.LookPath("swtpm"); err != nil {
		return nil, fmt.Errorf("find swtpm: %w", err)
	}
	state := filepath.Join(dir, "state")
	if err := os.MkdirAll(state, 0o700); err != nil {
		return nil, fmt.Errorf("create swtpm state: %w", err)
	}
	s := &SWTPM{dir: dir, done: make(chan struct{})}
	s.cmd = exec.Command("swtpm", "socket", "--tpm2",
		"--server", "type=unixio,path="+s.socket(),
		"--ctrl", "type=unixio,path="+filepath.Join(dir, "ctrl.sock"),
		"--flags", "not-need-init,startup-clear",
		"--tpmstate", "dir="+state)
	// swtpm's stderr says "Data client disconnected" at every close; keep
	// it for the error of a failed start only.
	s.cmd.Stderr = &s.stderr
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start swtpm: %w", err)
	}
	go func() { s.cmd.Wait(); close(s.done) }()
	// swtpm creates its socket a moment after it starts.
	for deadline := time.Now().Add(10 * time.Second); ; {
		if _, err := os.Stat(s.socket()); err == nil {
			return s, nil
		}
		select {
		case <-s.done:
			return nil, fmt.Errorf("start swtpm: exited: %v: %s", s.cmd.ProcessState, s.stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.Close()
			return nil, errors.New("start swtpm: no socket after 10s")
		}
	}
}

// NewSWTPM starts a swtpm for the test and stops it when the test ends. It
// skips the test unless SKERRY_INTEGRATION=1 and swtpm is installed.
func NewSWTPM(t testing.TB) *SWTPM {
	t.Helper()
	RequireIntegration(t)
	s, err := StartSWTPM(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// RequireIntegration skips the test unless SKERRY_INTEGRATION=1 (make test
// sets it) and swtpm is on PATH.
func RequireIntegration(t testing.TB) {
	t.Helper()
	if os.Getenv("SKERRY_INTEGRATION") != "1" {
		t.Skip("needs swtpm: set SKERRY_INTEGRATION=1 (make test does)")
	}
	if _, err := exec.LookPath("swtpm"); err != nil {
		t.Skip("needs swtpm on PATH: apt-get install swtpm")
	}
}

func (s *SWTPM) socket() string { return filepath.Join(s.dir, "tpm.sock") }

// Close stops swtpm.
func (s *SWTPM) Close() error {
	s.cmd.Process.Kill()
	<-s.done
	return nil
}

// Open connects to the TPM through go-attestation. swtpm serves one
// connection at a time: close the TPM before opening it again.
func (s *SWTPM) Open() (*attest.TPM, error) {
	// The socket exists a moment before swtpm listens on it, and swtpm
	// takes a moment to go back to accepting after the last connection
	// closed: retry a refused dial briefly.
	var conn net.Conn
	var err error
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if conn, err = net.Dial("unix", s.socket()); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("dial swtpm: %w", err)
	}
	tpm, err := attest.OpenTPM(&attest.OpenConfig{CommandChannel: &channel{conn: conn}})
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("open tpm: %w", err)
	}
	return tpm, nil
}

// channel is an attest.CommandChannelTPM20 over swtpm's socket. go-tpm reads
// each response with one Read, but a stream socket may deliver it in parts,
// so Read returns one whole response, sized by its header.
type channel struct {
	mu   sync.Mutex
	conn net.Conn
	buf  []byte
}

func (c *channel) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.conn.Write(p)
}

func (c *channel) Read(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.buf) == 0 {
		// TPM response header: tag (2), size (4), code (4).
		hdr := make([]byte, 10)
		if _, err := io.ReadFull(c.conn, hdr); err != nil {
			return 0, fmt.Errorf("read tpm response: %w", err)
		}
		size := binary.BigEndian.Uint32(hdr[2:6])
		if size < 10 || size > 1<<16 {
			return 0, fmt.Errorf("read tpm response: bad size %d", size)
		}
		c.buf = make([]byte, size)
		copy(c.buf, hdr)
		if _, err := io.ReadFull(c.conn, c.buf[10:]); err != nil {
			return 0, fmt.Errorf("read tpm response: %w", err)
		}
	}
	n := copy(p, c.buf)
	c.buf = c.buf[n:]
	return n, nil
}

func (c *channel) Close() error { return c.conn.Close() }

// MeasurementLog is not available from swtpm; enrollment does not use it.
func (c *channel) MeasurementLog() ([]byte, error) {
	return nil, errors.New("swtpm has no measurement log")
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

package agent

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"

	"github.com/google/go-attestation/attest"

	"github.com/skerry/skerry/services/internal/tpmdev"
)

// A TPM 2.0 response starts with a 10-byte header: tag (2), size (4), code (4).
const (
	tpmHeaderSize    = 10
	maxTPMResponse   = 64 << 10 // far above any real response; guards a broken simulator
	eventLogPath     = "/sys/kernel/security/tpm0/binary_bios_measurements"
	unixPathPrefix   = "unix:"
	defaultTPMDevice = "/dev/tpmrm0"
)

// openChannel opens the command channel to the TPM at path: a character
// device (/dev/tpmrm0, the kernel's resource manager) or "unix:PATH", the
// command socket of a simulator (swtpm socket --server type=unixio). Both
// go to go-attestation as a CommandChannelTPM20, so the agent runs the same
// code against a simulator in tests as against the chip in a box.
func openChannel(path string) (attest.CommandChannelTPM20, error) {
	if p, ok := strings.CutPrefix(path, unixPathPrefix); ok {
		conn, err := net.Dial("unix", p)
		if err != nil {
			return nil, fmt.Errorf("connect to TPM simulator: %w", err)
		}
		return &socketChannel{conn: conn}, nil
	}
	// The kernel's TPM device returns a whole response to one read, once
	// the descriptor is blocking (see tpmdev), so the file is the channel.
	f, err := tpmdev.Open(path)
	if err != nil {
		return nil, err
	}
	return deviceChannel{f}, nil
}

// deviceChannel is the kernel's TPM device.
type deviceChannel struct{ *os.File }

// MeasurementLog returns the firmware's event log.
func (deviceChannel) MeasurementLog() ([]byte, error) { return os.ReadFile(eventLogPath) }

// socketChannel keeps one connection to a simulator. A stream socket may
// split a response, while go-tpm expects each Read to return a whole one,
// so Read collects the whole response, sized by its header, first.
type socketChannel struct {
	conn net.Conn
	resp []byte // what is left of the last response
}

func (c *socketChannel) Write(p []byte) (int, error) {
	// A new command: whatever is left of the last response is stale.
	c.resp = nil
	return c.conn.Write(p)
}

func (c *socketChannel) Read(p []byte) (int, error) {
	if len(c.resp) == 0 {
		hdr := make([]byte, tpmHeaderSize)
		if _, err := io.ReadFull(c.conn, hdr); err != nil {
			return 0, fmt.Errorf("read TPM response: %w", err)
		}
		size := binary.BigEndian.Uint32(hdr[2:6])
		if size < tpmHeaderSize || size > maxTPMResponse {
			return 0, fmt.Errorf("read TPM response: implausible size %d", size)
		}
		c.resp = make([]byte, size)
		copy(c.resp, hdr)
		if _, err := io.ReadFull(c.conn, c.resp[tpmHeaderSize:]); err != nil {
			return 0, fmt.Errorf("read TPM response: %w", err)
		}
	}
	n := copy(p, c.resp)
	c.resp = c.resp[n:]
	return n, nil
}

func (c *socketChannel) Close() error { return c.conn.Close() }

// MeasurementLog: a simulator has no firmware and so no event log.
func (c *socketChannel) MeasurementLog() ([]byte, error) {
	return nil, errors.New("TPM simulator has no measurement log")
}

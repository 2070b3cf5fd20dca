// Package tpm opens the box's TPM for every service that uses it (the
// agent, the vault, the status API), one way: the kernel's resource
// manager device (/dev/tpmrm0), or "unix:PATH", the command socket of a
// simulator (swtpm socket --server type=unixio) in tests. Both give the
// same Channel, so services run the same code against a simulator in tests
// as against the chip in a box.
package tpm

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/google/go-tpm/tpm2/transport"
)

// DefaultPath is the kernel's TPM resource manager: several processes may
// use it at once, each with its own view of loaded objects.
const DefaultPath = "/dev/tpmrm0"

// SimulatorPrefix marks a simulator's command socket: "unix:/run/swtpm.sock".
const SimulatorPrefix = "unix:"

// simulatorWait bounds the wait for a simulator to take a connection.
const simulatorWait = 5 * time.Second

// eventLogPath is the firmware's measurement log, as the kernel exports it.
const eventLogPath = "/sys/kernel/security/tpm0/binary_bios_measurements"

// A TPM 2.0 response starts with a 10-byte header: tag (2), size (4), code (4).
const (
	headerSize  = 10
	maxResponse = 64 << 10 // far above any real response; guards a broken simulator
)

// Channel is an open command channel to a TPM: each Write sends one
// command, the Reads that follow return its whole response. It satisfies
// go-attestation's CommandChannelTPM20.
type Channel interface {
	io.ReadWriteCloser
	// MeasurementLog returns the firmware's event log (none for a
	// simulator).
	MeasurementLog() ([]byte, error)
}

// Open opens the TPM at path: a device, or SimulatorPrefix and a socket.
func Open(path string) (Channel, error) {
	if p, ok := strings.CutPrefix(path, SimulatorPrefix); ok {
		// swtpm serves one connection at a time and takes a moment to
		// listen again after the last one closed: retry a refused dial
		// briefly.
		var conn net.Conn
		var err error
		for deadline := time.Now().Add(simulatorWait); ; time.Sleep(20 * time.Millisecond) {
			conn, err = net.Dial("unix", p)
			if err == nil || !errors.Is(err, syscall.ECONNREFUSED) || time.Now().After(deadline) {
				break
			}
		}
		if err != nil {
			return nil, fmt.Errorf("connect to TPM simulator %s: %w", p, err)
		}
		return &socketChannel{conn: conn}, nil
	}
	// The kernel's TPM device returns a whole response to one read, once
	// the descriptor is blocking, so the file is the channel.
	f, err := openDevice(path)
	if err != nil {
		return nil, err
	}
	return deviceChannel{f}, nil
}

// OpenTransport opens the TPM at path for go-tpm's direct API (tpm2).
func OpenTransport(path string) (transport.TPMCloser, error) {
	ch, err := Open(path)
	if err != nil {
		return nil, err
	}
	return transport.FromReadWriteCloser(ch), nil
}

// deviceChannel is the kernel's TPM device.
type deviceChannel struct{ *os.File }

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
		hdr := make([]byte, headerSize)
		if _, err := io.ReadFull(c.conn, hdr); err != nil {
			return 0, fmt.Errorf("read TPM response: %w", err)
		}
		size := binary.BigEndian.Uint32(hdr[2:6])
		if size < headerSize || size > maxResponse {
			return 0, fmt.Errorf("read TPM response: implausible size %d", size)
		}
		c.resp = make([]byte, size)
		copy(c.resp, hdr)
		if _, err := io.ReadFull(c.conn, c.resp[headerSize:]); err != nil {
			return 0, fmt.Errorf("read TPM response: %w", err)
		}
	}
	n := copy(p, c.resp)
	c.resp = c.resp[n:]
	return n, nil
}

func (c *socketChannel) Close() error { return c.conn.Close() }

func (c *socketChannel) MeasurementLog() ([]byte, error) {
	return nil, errors.New("a TPM simulator has no measurement log")
}

// Package serve is how every Skerry API listens and serves, on the site
// and at the tower: a unix socket whose mode is set before anyone can
// connect, TCP that is loopback-only unless asked otherwise, and an HTTP
// server whose memory stays bounded under any number of slow, stalled or
// idle clients (see Limits).
package serve

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
)

// Unix listens on a unix socket at path, with mode. The socket is created
// in a private directory (0700) beside path, given its mode, then renamed
// into place: no one can connect to it before its mode holds. A stale
// socket at path (from a killed run) is replaced; the parent directory is
// created if missing. Closing the listener removes the socket.
func Unix(path string, mode os.FileMode) (net.Listener, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	priv, err := os.MkdirTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	defer os.RemoveAll(priv)
	tmp := filepath.Join(priv, "s")
	l, err := net.Listen("unix", tmp)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	ul := l.(*net.UnixListener)
	// Close must unlink path, not the temporary name.
	ul.SetUnlinkOnClose(false)
	if err := os.Chmod(tmp, mode); err != nil {
		l.Close()
		return nil, fmt.Errorf("listen on %s: set mode: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		l.Close()
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	return &unixListener{UnixListener: ul, path: path}, nil
}

// unixListener removes its socket on Close, unless another listener has
// taken the path since.
type unixListener struct {
	*net.UnixListener
	path string
}

func (l *unixListener) Close() error {
	err := l.UnixListener.Close()
	os.Remove(l.path)
	return err
}

// Scope says who may reach a TCP listener.
type Scope int

const (
	// Loopback refuses any address that is not loopback: the API is for
	// this machine (and a QEMU bench's forwarded port) only.
	Loopback Scope = iota
	// Network allows any address; the API must then authenticate every
	// request (mTLS or a token).
	Network
)

// ErrNotLoopback is returned by TCP and CheckLoopback for an address that
// is reachable from other machines where only loopback is allowed.
var ErrNotLoopback = errors.New("not a loopback address")

// TCP listens on addr. With Loopback, addr must name a loopback address:
// ":8080" (every interface) and "0.0.0.0:8080" are refused.
func TCP(addr string, scope Scope) (net.Listener, error) {
	if scope == Loopback {
		if err := CheckLoopback(addr); err != nil {
			return nil, err
		}
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	return l, nil
}

// CheckLoopback refuses addresses other than loopback ones.
func CheckLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("address %q: %w; want host:port", addr, err)
	}
	ip := net.ParseIP(host)
	if host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("address %q: %w: only 127.0.0.1, ::1 or localhost are allowed here", addr, ErrNotLoopback)
	}
	return nil
}

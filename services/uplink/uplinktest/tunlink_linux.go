package uplinktest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TUNLink is a network namespace reached from the host through two TUN
// devices and this process in between, which delays and drops whole IP
// packets as netem would (the host has no netem): a TCP connection and a
// DTLS session through it see the same loss and the same RTT end to end.
// A proxy that terminates TCP cannot do that: TCP would recover from loss
// on the proxy's loss-free, delay-free leg. Root only.
type TUNLink struct {
	// NS is the namespace; Peer its address, reached from the host.
	NS, Peer string

	fault         atomic.Pointer[Fault]
	host, inside  *os.File
	hostDev       string
	Dropped, Sent atomic.Int64
}

// NewTUNLink makes the namespace, the TUN devices and the routes, and
// starts forwarding. id picks unique names (e.g. the process ID).
func NewTUNLink(id int, f Fault) (*TUNLink, error) {
	id %= 10000
	l := &TUNLink{NS: fmt.Sprintf("upltun%d", id), hostDev: fmt.Sprintf("tuh%d", id)}
	subnet := fmt.Sprintf("10.215.%d", id%250)
	l.Peer = subnet + ".2"
	l.fault.Store(&f)
	inDev := fmt.Sprintf("tun%d", id)
	for _, args := range [][]string{
		{"ip", "netns", "add", l.NS},
		{"ip", "-n", l.NS, "link", "set", "lo", "up"},
		{"ip", "tuntap", "add", "dev", l.hostDev, "mode", "tun"},
		{"ip", "-n", l.NS, "tuntap", "add", "dev", inDev, "mode", "tun"},
		{"ip", "addr", "add", subnet + ".1/24", "dev", l.hostDev},
		{"ip", "-n", l.NS, "addr", "add", l.Peer + "/24", "dev", inDev},
		{"ip", "link", "set", l.hostDev, "up"},
		{"ip", "-n", l.NS, "link", "set", inDev, "up"},
	} {
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			l.Close()
			return nil, fmt.Errorf("%s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	var err error
	if l.host, err = openTUN(l.hostDev, ""); err == nil {
		l.inside, err = openTUN(inDev, l.NS)
	}
	if err != nil {
		l.Close()
		return nil, err
	}
	go l.forward(l.host, l.inside)
	go l.forward(l.inside, l.host)
	return l, nil
}

// SetFault changes delay and loss from now on.
func (l *TUNLink) SetFault(f Fault) { l.fault.Store(&f) }

// Wrap is the command prefix that runs a program inside the namespace.
func (l *TUNLink) Wrap() []string { return []string{"ip", "netns", "exec", l.NS} }

// Close removes the namespace and the devices.
func (l *TUNLink) Close() {
	if l.host != nil {
		l.host.Close()
	}
	if l.inside != nil {
		l.inside.Close()
	}
	exec.Command("ip", "netns", "del", l.NS).Run()
	exec.Command("ip", "link", "del", l.hostDev).Run()
}

// forward copies packets from src to dst through the fault, each direction
// drawing its own losses, in order.
func (l *TUNLink) forward(src, dst *os.File) {
	line := newDelayLine()
	defer close(line)
	buf := make([]byte, 65536)
	for {
		n, err := src.Read(buf)
		if err != nil {
			return
		}
		f := l.fault.Load()
		if f.Loss > 0 && rand.Float64() < f.Loss {
			l.Dropped.Add(1)
			continue
		}
		l.Sent.Add(1)
		line.later(f.Delay, append([]byte(nil), buf[:n]...), func(b []byte) { dst.Write(b) })
	}
}

// openTUN attaches to the TUN device name, in namespace ns ("" for ours).
func openTUN(name, ns string) (*os.File, error) {
	type result struct {
		f   *os.File
		err error
	}
	ch := make(chan result, 1)
	go func() {
		// A thread moved into another namespace is never given back:
		// returning without UnlockOSThread ends it.
		runtime.LockOSThread()
		if ns != "" {
			h, err := os.Open("/run/netns/" + ns)
			if err != nil {
				ch <- result{nil, err}
				return
			}
			err = unix.Setns(int(h.Fd()), unix.CLONE_NEWNET)
			h.Close()
			if err != nil {
				ch <- result{nil, fmt.Errorf("setns %s: %w", ns, err)}
				return
			}
		} else {
			defer runtime.UnlockOSThread()
		}
		fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
		if err != nil {
			ch <- result{nil, fmt.Errorf("open /dev/net/tun: %w", err)}
			return
		}
		var req [unix.IFNAMSIZ + 64]byte
		copy(req[:], name)
		*(*uint16)(unsafe.Pointer(&req[unix.IFNAMSIZ])) = unix.IFF_TUN | unix.IFF_NO_PI
		if _, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.TUNSETIFF, uintptr(unsafe.Pointer(&req[0]))); errno != 0 {
			unix.Close(fd)
			ch <- result{nil, fmt.Errorf("attach to %s: %w", name, errno)}
			return
		}
		// Non-blocking, so the runtime's poller waits and Close ends a read.
		if err := unix.SetNonblock(fd, true); err != nil {
			unix.Close(fd)
			ch <- result{nil, err}
			return
		}
		ch <- result{os.NewFile(uintptr(fd), name), nil}
	}()
	r := <-ch
	if r.f == nil && r.err == nil {
		r.err = errors.New("open tun: no result")
	}
	return r.f, r.err
}

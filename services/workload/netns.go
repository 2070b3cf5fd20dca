package workload

import (
	"context"
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"

	"golang.org/x/sys/unix"
)

// dialInApp connects to 127.0.0.1:port inside the network namespace of
// process pid (an app's task): a socket belongs to the namespace it was
// made in, so once made it is used from any thread. The health checks and
// the host ports reach apps this way, through the app's own loopback.
func dialInApp(ctx context.Context, pid int, network string, port int) (net.Conn, error) {
	type result struct {
		conn net.Conn
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		// A thread that entered another network namespace is never given
		// back: the goroutine ends locked, and its thread with it.
		runtime.LockOSThread()
		ns, err := os.Open(fmt.Sprintf("/proc/%d/ns/net", pid))
		if err != nil {
			ch <- result{err: fmt.Errorf("open the app's network namespace: %w", err)}
			return
		}
		defer ns.Close()
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
			ch <- result{err: fmt.Errorf("enter the app's network namespace: %w", err)}
			return
		}
		var d net.Dialer
		c, err := d.DialContext(ctx, network, net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		ch <- result{c, err}
	}()
	r := <-ch
	return r.conn, r.err
}

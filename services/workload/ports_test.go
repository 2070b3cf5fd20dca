package workload

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/skerry/skerry/services/api/workloadapi"
)

// TestHostPorts publishes an app's TCP and UDP ports on the host: a
// client on the host reaches the app's HTTP server and UDP echo, which
// listen in the app's own network namespace; another app or a port the
// site keeps is refused naming app, port and holder; a port another
// program holds fails the app and says so; the ports come back when a
// new runner reattaches, and are released when the app is removed.
func TestHostPorts(t *testing.T) {
	reserved := freePort(t, "tcp")
	r, mk, archive, dir := newRunner(t, WithReservedPorts(ReservedPort{Protocol: "tcp", Port: reserved, Owner: "the site's status API (health.listen)"}))
	tcpPort, udpPort := freePort(t, "tcp"), freePort(t, "udp")
	spec := probeSpec("acme", "web", archive, map[string]string{"RUN": "web", "SERVE": ":8080", "UDP_ECHO": ":9090", "SLEEP": "1h"})
	spec.Ports = []workloadapi.Port{{Host: tcpPort, Container: 8080}, {Host: udpPort, Container: 9090, Protocol: "udp"}}
	spec.Normalize() // as the desired state keeps it: the same hash below
	ctx := context.Background()
	if err := r.Apply(ctx, spec); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the app to run", 2*time.Minute, func() bool { return statusOf(r, "acme", "web").State == StateRunning })
	pid := statusOf(r, "acme", "web").PID
	checkHostPorts(t, tcpPort, udpPort)

	// Another app on the same host port, or on one the site keeps.
	other := probeSpec("bravo", "web", archive, map[string]string{"SLEEP": "1h"})
	other.Ports = []workloadapi.Port{{Host: tcpPort, Container: 80}}
	err := r.Apply(ctx, other)
	if want := fmt.Sprintf("app bravo/web: host port tcp/%d is published by app acme/web", tcpPort); !errors.Is(err, ErrPortTaken) || !strings.Contains(err.Error(), want) {
		t.Errorf("a port another app publishes: got %v, want ErrPortTaken saying %q", err, want)
	}
	other.Ports = []workloadapi.Port{{Host: reserved, Container: 80}}
	err = r.Apply(ctx, other)
	if want := fmt.Sprintf("app bravo/web: host port tcp/%d is the site's status API (health.listen)", reserved); !errors.Is(err, ErrPortTaken) || !strings.Contains(err.Error(), want) {
		t.Errorf("a port the site keeps: got %v, want ErrPortTaken saying %q", err, want)
	}
	// The desired state refuses it too, and stores nothing.
	st, err := OpenState(filepath.Join(dir, "desired.json"), r)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Put(ctx, spec); err != nil {
		t.Fatal(err)
	}
	other.Ports = []workloadapi.Port{{Host: udpPort, Container: 53, Protocol: "udp"}}
	if err := st.Put(ctx, other); !errors.Is(err, ErrPortTaken) || len(st.Apps()) != 1 {
		t.Errorf("desired state with a taken port: got %v and %d apps, want ErrPortTaken and acme/web alone", err, len(st.Apps()))
	}

	// A port some other program of the site holds: the app fails, saying so.
	held, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	heldPort := held.Addr().(*net.TCPAddr).Port
	other.Ports = []workloadapi.Port{{Host: heldPort, Container: 80}}
	if err := r.Apply(ctx, other); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the app on a held port to fail", time.Minute, func() bool { return statusOf(r, "bravo", "web").State == StateFailed })
	if e := statusOf(r, "bravo", "web").Error; !strings.Contains(e, fmt.Sprintf("host port tcp/%d", heldPort)) || !strings.Contains(e, "address already in use") {
		t.Errorf("the app on a held port: error %q, want the port and \"address already in use\"", e)
	}
	if err := r.Remove(ctx, "bravo", "web"); err != nil {
		t.Fatal(err)
	}

	// The service restarts: its ports close with it, connections open
	// through them too (a kept-alive one here), and a new runner takes
	// the running app over with its ports.
	kept, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", tcpPort))
	if err != nil {
		t.Fatal(err)
	}
	defer kept.Close()
	fmt.Fprintf(kept, "GET / HTTP/1.1\r\nHost: app\r\n\r\n")
	kept.SetReadDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(kept)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("a kept-alive request through the host port: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	closed := make(chan struct{})
	go func() { r.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(30 * time.Second):
		t.Fatal("the runner did not close within 30s while a connection through its host port stayed open")
	}
	kept.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := br.ReadByte(); !errors.Is(err, io.EOF) && !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("the kept-alive connection after the runner closed: read error %v, want it closed (EOF)", err)
	}
	if c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", tcpPort), time.Second); err == nil {
		c.Close()
		t.Error("the host port still accepts after the runner closed")
	}
	r2 := mk()
	if err := r2.Apply(ctx, spec); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the new runner to take the app over", time.Minute, func() bool { return statusOf(r2, "acme", "web").State == StateRunning })
	if got := statusOf(r2, "acme", "web").PID; got != pid {
		t.Errorf("after reattaching: pid %d, want %d (not restarted)", got, pid)
	}
	checkHostPorts(t, tcpPort, udpPort)

	// Removed: the ports are free for others.
	if err := r2.Remove(ctx, "acme", "web"); err != nil {
		t.Fatal(err)
	}
	for _, network := range []string{"tcp", "udp"} {
		port := map[string]int{"tcp": tcpPort, "udp": udpPort}[network]
		var c io.Closer
		var err error
		if network == "tcp" {
			c, err = net.Listen("tcp", fmt.Sprintf(":%d", port))
		} else {
			c, err = net.ListenPacket("udp", fmt.Sprintf(":%d", port))
		}
		if err != nil {
			t.Errorf("host port %s/%d after the app's removal: %v, want it free", network, port, err)
			continue
		}
		c.Close()
	}
}

// checkHostPorts asks the app over its host ports: an HTTP GET on the
// TCP port, a datagram on the UDP port.
func checkHostPorts(t *testing.T, tcpPort, udpPort int) {
	t.Helper()
	var body string
	waitFor(t, "the app's answer on its TCP host port", 30*time.Second, func() bool {
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/", tcpPort))
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body = string(b)
		return resp.StatusCode == http.StatusOK
	})
	if body != "ok\n" {
		t.Errorf("TCP host port: body %q, want the app's \"ok\"", body)
	}
	c, err := net.Dial("udp", fmt.Sprintf("127.0.0.1:%d", udpPort))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var answer string
	waitFor(t, "the app's answer on its UDP host port", 30*time.Second, func() bool {
		c.Write([]byte("ping"))
		c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		b := make([]byte, 64)
		n, err := c.Read(b)
		answer = string(b[:n])
		return err == nil
	})
	if answer != "echo ping" {
		t.Errorf("UDP host port: answer %q, want \"echo ping\"", answer)
	}
}

// freePort is a port nothing listens on now.
func freePort(t *testing.T, network string) int {
	t.Helper()
	if network == "udp" {
		c, err := net.ListenPacket("udp", ":0")
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port
	}
	l, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

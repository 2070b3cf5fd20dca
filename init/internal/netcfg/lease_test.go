package netcfg

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/skerry/skerry/qemu/testenv"

	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/server4"
	"github.com/u-root/u-root/pkg/dhclient"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/skerry/skerry/services/siteconfig"
)

// The lease test runs a real DHCP server (insomniacslk's server4) and the
// client (Up, then Maintain) as two copies of this test binary, each in a
// network namespace of its own made by unshare(1), joined by a veth pair:
// nothing touches the host's network.
const (
	helperEnv   = "SKERRY_NETCFG_HELPER"
	serverPIDEv = "SKERRY_NETCFG_SERVER_PID"
	testLease   = 4 * time.Second
	serverIP    = "10.99.0.1"
	clientIP    = "10.99.0.50"
)

// clientLine is what the client helper prints, one JSON line per event.
type clientLine struct {
	Kind    string   `json:"kind"` // up, renewed, new, lost, error
	Address string   `json:"address,omitempty"`
	Err     string   `json:"err,omitempty"`
	Addrs   []string `json:"addrs"` // IPv4 addresses on veth0 right after the event
	At      float64  `json:"at"`    // seconds since the helper started
}

func TestLeaseTakenRenewedLostAndRetaken(t *testing.T) {
	// Root for network namespaces, unshare (util-linux) to make them.
	testenv.Integration(t, testenv.Root(), testenv.Tools("unshare"))
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()

	server := helper(t, ctx, "server", nil)
	serverOut := lines(server.stdout)
	client := helper(t, ctx, "client", []string{serverPIDEv + "=" + strconv.Itoa(server.cmd.Process.Pid)})
	events := lines(client.stdout)

	next := func(what string, within time.Duration) clientLine {
		t.Helper()
		select {
		case l, ok := <-events:
			if !ok {
				t.Fatalf("client helper ended while waiting for %s", what)
			}
			var ev clientLine
			if err := json.Unmarshal([]byte(l), &ev); err != nil {
				t.Fatalf("client helper printed %q: %v", l, err)
			}
			t.Logf("client: %s", l)
			return ev
		case <-time.After(within):
			t.Fatalf("no client event within %s while waiting for %s", within, what)
		}
		return clientLine{}
	}

	// The server starts silent, like an uplink plugged in after boot: the
	// client reports the failure and keeps trying.
	if ev := next("no lease yet", 60*time.Second); ev.Kind != "error" || len(ev.Addrs) != 0 {
		t.Fatalf("first event %+v, want an error and no address while no server answers", ev)
	}
	server.cmd.Process.Signal(syscall.SIGUSR1)
	up := next("the first lease", 60*time.Second)
	if up.Kind != "up" || up.Address != clientIP+"/24" || !slices.Contains(up.Addrs, clientIP) {
		t.Fatalf("event %+v, want up with %s/24 configured", up, clientIP)
	}
	// Renewed at half the lease, twice, the address kept throughout.
	for i := 0; i < 2; i++ {
		ev := next("a renewal", testLease)
		if ev.Kind != "renewed" || !slices.Contains(ev.Addrs, clientIP) {
			t.Fatalf("event %+v, want the lease renewed and %s kept", ev, clientIP)
		}
	}

	// The server goes silent: the lease runs out and the address goes.
	server.cmd.Process.Signal(syscall.SIGUSR1)
	var lost clientLine
	for lost.Kind != "lost" {
		if lost = next("the lease to be lost", 2*testLease); lost.Kind != "lost" && lost.Kind != "renewed" {
			t.Fatalf("event %+v while the server is silent", lost)
		}
	}
	if slices.Contains(lost.Addrs, clientIP) {
		t.Errorf("lease lost but %s still on the interface: %v", clientIP, lost.Addrs)
	}

	// It answers again: the client takes a new lease by itself.
	server.cmd.Process.Signal(syscall.SIGUSR1)
	again := next("a new lease", 20*time.Second)
	if again.Kind != "new" || !slices.Contains(again.Addrs, clientIP) {
		t.Errorf("event %+v, want a new lease with %s configured", again, clientIP)
	}
	cancel()
	var seen []string
	for l := range serverOut {
		seen = append(seen, l)
	}
	t.Logf("server saw: %v", seen)
}

type helperProc struct {
	cmd    *exec.Cmd
	stdout io.Reader
}

// helper starts this test binary as role in a new network namespace.
func helper(t *testing.T, ctx context.Context, role string, env []string) *helperProc {
	t.Helper()
	// A mount namespace too (private propagation, unshare's default): the
	// client covers /etc/resolv.conf there, which Configure4 rewrites.
	cmd := exec.CommandContext(ctx, "unshare", "--net", "--mount", "--", os.Args[0], "-test.run=^TestHelperProcess$", "-test.v=false")
	cmd.Env = append(append(os.Environ(), helperEnv+"="+role), env...)
	cmd.Stderr = &testWriter{t: t, prefix: role + " stderr: "}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	return &helperProc{cmd: cmd, stdout: out}
}

// lines delivers r's lines on a channel closed at EOF.
func lines(r io.Reader) <-chan string {
	ch := make(chan string, 100)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			ch <- sc.Text()
		}
	}()
	return ch
}

type testWriter struct {
	t      *testing.T
	prefix string
}

func (w *testWriter) Write(p []byte) (int, error) {
	w.t.Logf("%s%s", w.prefix, p)
	return len(p), nil
}

// TestHelperProcess is not a test: it is the server or the client of
// TestLeaseTakenRenewedLostAndRetaken, run in a namespace of its own.
func TestHelperProcess(t *testing.T) {
	var err error
	switch os.Getenv(helperEnv) {
	case "":
		t.Skip("a helper for TestLeaseTakenRenewedLostAndRetaken")
	case "server":
		err = dhcpServer()
	case "client":
		err = dhcpClient()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(0)
}

// dhcpServer waits for veth1 to be moved into its namespace, then serves
// 4-second leases of clientIP; it starts silent, and each SIGUSR1 wakes or
// silences it.
func dhcpServer() error {
	var link netlink.Link
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if l, err := netlink.LinkByName("veth1"); err == nil {
			link = l
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("veth1 never appeared")
		}
	}
	addr, _ := netlink.ParseAddr(serverIP + "/24")
	if err := netlink.AddrAdd(link, addr); err != nil {
		return err
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return err
	}
	var silent atomic.Bool
	silent.Store(true) // until the test says
	usr1 := make(chan os.Signal, 1)
	signal.Notify(usr1, syscall.SIGUSR1)
	go func() {
		for range usr1 {
			silent.Store(!silent.Load())
		}
	}()
	handler := func(conn net.PacketConn, peer net.Addr, m *dhcpv4.DHCPv4) {
		fmt.Printf("%s silent=%v\n", m.MessageType(), silent.Load())
		if silent.Load() {
			return
		}
		var typ dhcpv4.MessageType
		switch m.MessageType() {
		case dhcpv4.MessageTypeDiscover:
			typ = dhcpv4.MessageTypeOffer
		case dhcpv4.MessageTypeRequest:
			typ = dhcpv4.MessageTypeAck
		default:
			return
		}
		resp, err := dhcpv4.NewReplyFromRequest(m,
			dhcpv4.WithMessageType(typ),
			dhcpv4.WithYourIP(net.ParseIP(clientIP)),
			dhcpv4.WithServerIP(net.ParseIP(serverIP)),
			dhcpv4.WithOption(dhcpv4.OptServerIdentifier(net.ParseIP(serverIP))),
			dhcpv4.WithOption(dhcpv4.OptSubnetMask(net.CIDRMask(24, 32))),
			dhcpv4.WithOption(dhcpv4.OptRouter(net.ParseIP(serverIP))),
			dhcpv4.WithOption(dhcpv4.OptIPAddressLeaseTime(testLease)),
		)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return
		}
		dst := peer
		if u, ok := peer.(*net.UDPAddr); !ok || u.IP.IsUnspecified() {
			dst = &net.UDPAddr{IP: net.IPv4bcast, Port: dhcpv4.ClientPort}
		}
		if _, err := conn.WriteTo(resp.ToBytes(), dst); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	}
	s, err := server4.NewServer("veth1", &net.UDPAddr{IP: net.IPv4zero, Port: dhcpv4.ServerPort}, handler)
	if err != nil {
		return err
	}
	return s.Serve()
}

// dhcpClient makes the veth pair, moves veth1 to the server's namespace,
// then runs Up and Maintain on veth0, printing a clientLine per event.
func dhcpClient() error {
	start := time.Now()
	retryMin, minBackoff, dhcpRetries = 500*time.Millisecond, time.Second, 2
	dir, err := os.MkdirTemp("", "netcfg")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	// dhclient writes /etc/resolv.conf: cover the host's, in this mount
	// namespace only, before anything else.
	resolv := filepath.Join(dir, "resolv.conf")
	if err := os.WriteFile(resolv, nil, 0o644); err != nil {
		return err
	}
	if err := unix.Mount(resolv, dhclient.ResolvConfPath, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("cover %s: %w", dhclient.ResolvConfPath, err)
	}
	pid, err := strconv.Atoi(os.Getenv(serverPIDEv))
	if err != nil {
		return err
	}
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "veth0"}, PeerName: "veth1"}
	if err := netlink.LinkAdd(veth); err != nil {
		return fmt.Errorf("add veth pair: %w", err)
	}
	peer, err := netlink.LinkByName("veth1")
	if err != nil {
		return err
	}
	if err := netlink.LinkSetNsPid(peer, pid); err != nil {
		return fmt.Errorf("move veth1 to the server's namespace: %w", err)
	}
	enc := json.NewEncoder(os.Stdout)
	emit := func(l clientLine) {
		l.At = time.Since(start).Seconds()
		if link, err := netlink.LinkByName("veth0"); err == nil {
			addrs, _ := netlink.AddrList(link, netlink.FAMILY_V4)
			l.Addrs = []string{}
			for _, a := range addrs {
				l.Addrs = append(l.Addrs, a.IP.String())
			}
		}
		enc.Encode(l)
	}
	leased := false
	Run(context.Background(), siteconfig.Network{Interface: "veth0"}, func(ev Event) {
		switch {
		case ev.Err != nil && !leased:
			emit(clientLine{Kind: "error", Err: ev.Err.Error()})
		case ev.Err != nil:
			emit(clientLine{Kind: "lost", Err: ev.Err.Error()})
		case !leased:
			leased = true
			emit(clientLine{Kind: "up", Address: ev.Result.Address})
		case ev.Renewed:
			emit(clientLine{Kind: "renewed", Address: ev.Result.Address})
		default:
			emit(clientLine{Kind: "new", Address: ev.Result.Address})
		}
	})
	return nil
}

package qemu

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// forwards asks QEMU which host ports it bound for the guest's forwarded
// ports. QMP has no command for it; the human monitor's "info usernet"
// lists them.
func (vm *VM) forwards(ctx context.Context) (map[int]int, error) {
	var out string
	err := vm.qmp.execute(ctx, "human-monitor-command",
		map[string]string{"command-line": "info usernet"}, &out)
	if err != nil {
		return nil, fmt.Errorf("list forwarded ports: %w", err)
	}
	ports, err := parseUsernet(out)
	if err != nil {
		return nil, err
	}
	for _, g := range vm.cfg.Forwards {
		if ports[g] == 0 {
			return nil, fmt.Errorf("list forwarded ports: guest port %d missing from %q", g, out)
		}
	}
	return ports, nil
}

// parseUsernet reads the host-forward rows of "info usernet":
//
//	Protocol[State]    FD  Source Address  Port   Dest. Address  Port RecvQ SendQ
//	TCP[HOST_FORWARD]   9       127.0.0.1 42409       10.0.2.15    22     0     0
//
// into guest port -> host port. A row bound anywhere but 127.0.0.1 is an
// error: the host side of the bench is loopback only.
func parseUsernet(s string) (map[int]int, error) {
	ports := map[int]int{}
	for _, line := range strings.Split(s, "\n") {
		f := strings.Fields(line)
		if len(f) < 6 || f[0] != "TCP[HOST_FORWARD]" {
			continue
		}
		host, herr := strconv.Atoi(f[3])
		guest, gerr := strconv.Atoi(f[5])
		if herr != nil || gerr != nil {
			return nil, fmt.Errorf("parse forwarded ports: bad row %q", line)
		}
		if f[2] != "127.0.0.1" {
			return nil, fmt.Errorf("parse forwarded ports: guest port %d is bound to %s, not loopback", guest, f[2])
		}
		ports[guest] = host
	}
	return ports, nil
}

// HostPort returns the port on 127.0.0.1 that reaches guestPort, or 0 when
// guestPort is not in Config.Forwards.
func (vm *VM) HostPort(guestPort int) int { return vm.ports[guestPort] }

// HostAddr returns "127.0.0.1:port" for guestPort, or "" when guestPort is
// not in Config.Forwards.
func (vm *VM) HostAddr(guestPort int) string {
	p := vm.ports[guestPort]
	if p == 0 {
		return ""
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(p))
}

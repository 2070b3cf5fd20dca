package uplinktest

import (
	"net"
)

// UseDTLS makes the hub listen for DTLS too, on a free loopback UDP port
// (DTLSAddr); StartUplink(r.DTLSArgs()...) sends there.
func (r *Rig) UseDTLS() error {
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return err
	}
	r.DTLSAddr = c.LocalAddr().String()
	c.Close()
	r.HubArgs = append(r.HubArgs, "-dtls-listen", r.DTLSAddr)
	return nil
}

// DTLSArgs are the uplink arguments that send to addr (DTLSAddr, or a
// proxy in front of it) over DTLS.
func DTLSArgs(addr string) []string {
	host, _, _ := net.SplitHostPort(addr)
	return []string{"-broker", "dtls://" + addr, "-server-name", host}
}

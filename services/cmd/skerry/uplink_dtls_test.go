package main

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/pion/dtls/v3"

	"github.com/skerry/skerry/services/api/uplinkapi"
	"github.com/skerry/skerry/services/hub"
	"github.com/skerry/skerry/services/streamlog"
	"github.com/skerry/skerry/services/streamlog/wire"
)

// TestUplinkDTLSWithTPMKey: the uplink's identity with its key in a
// (software) TPM completes a DTLS handshake with the hub (pion signs
// through the key's crypto.Signer, the TPM), and the hub stores a batch
// under the site of the certificate.
func TestUplinkDTLSWithTPMKey(t *testing.T) {
	const site = "0123456789abcdef"
	id, authority, tpmPath := tpmIdentity(t, site)

	store, err := streamlog.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	srvCert, srvKey, err := authority.ServerCert([]string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	recv := hub.NewReceiver(store, streamlog.TopicConfig{}, slog.Default())
	s, err := hub.ListenDTLS(hub.DTLSConfig{Listen: "127.0.0.1:0", Cert: tls.Certificate{Certificate: [][]byte{srvCert.Raw}, PrivateKey: srvKey}, Sites: authority.Pool(), Log: slog.Default()}, recv)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Serve(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	cfg, release, err := identityTLS(id, tpmPath, s.Addr(), "")
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	raddr, _ := net.ResolveUDPAddr("udp", s.Addr())
	pc, err := net.ListenUDP("udp", nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := dtls.ClientWithOptions(pc, raddr, dtls.WithCertificates(cfg.Certificates...), dtls.WithRootCAs(cfg.RootCAs),
		dtls.WithServerName(cfg.ServerName), dtls.WithConnectionIDGenerator(dtls.OnlySendCIDGenerator()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	hctx, hcancel := context.WithTimeout(ctx, 20*time.Second)
	defer hcancel()
	if err := c.HandshakeContext(hctx); err != nil {
		t.Fatalf("dtls handshake with the TPM key: %v", err)
	}
	b := uplinkapi.Batch{Site: site, Tenant: "system", Topic: "x", Records: []wire.Record{{Offset: 0, Time: time.Unix(1, 0), Value: []byte("v")}}}
	if _, err := c.Write(uplinkapi.AppendBatchDatagram(nil, 1, &b)); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 4096)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, a, err := uplinkapi.DecodeAckDatagram(buf[:n]); err != nil || a.Status != uplinkapi.StatusStored || a.Next != 1 {
		t.Errorf("answer: %+v %v, want stored up to 1", a, err)
	}
}

package hub

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/pion/dtls/v3"

	"github.com/skerry/skerry/services/api/uplinkapi"
	"github.com/skerry/skerry/services/streamlog"
	"github.com/skerry/skerry/services/streamlog/wire"
	"github.com/skerry/skerry/services/tower/ca"
)

// testDTLS starts a DTLS listener on loopback over a fresh store.
func testDTLS(t *testing.T) (*DTLSServer, *ca.CA, *streamlog.Store) {
	t.Helper()
	return testDTLSAdmit(t, nil)
}

// testDTLSAdmit is testDTLS with a DTLSConfig.Admit.
func testDTLSAdmit(t *testing.T, admit func(string, bool, *x509.Certificate) error) (*DTLSServer, *ca.CA, *streamlog.Store) {
	t.Helper()
	authority, cert, store := testServerSide(t)
	s, err := ListenDTLS(DTLSConfig{Listen: "127.0.0.1:0", Cert: cert,
		Sites: authority.Pool(), Log: slog.Default(), Admit: admit}, NewReceiver(store, streamlog.TopicConfig{}, slog.Default()))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Serve(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return s, authority, store
}

// dialDTLS opens a DTLS session with tc's certificate.
func dialDTLS(t *testing.T, s *DTLSServer, tc *tls.Config) *dtls.Conn {
	t.Helper()
	c, err := tryDTLS(t, s, tc)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func tryDTLS(t *testing.T, s *DTLSServer, tc *tls.Config) (*dtls.Conn, error) {
	t.Helper()
	raddr, _ := net.ResolveUDPAddr("udp", s.Addr())
	pc, err := net.ListenUDP("udp", nil)
	if err != nil {
		t.Fatal(err)
	}
	c, err := dtls.ClientWithOptions(pc, raddr, dtls.WithCertificates(tc.Certificates...), dtls.WithRootCAs(tc.RootCAs),
		dtls.WithServerName("127.0.0.1"), dtls.WithExtendedMasterSecret(dtls.RequireExtendedMasterSecret),
		dtls.WithConnectionIDGenerator(dtls.OnlySendCIDGenerator()))
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return c, c.HandshakeContext(ctx)
}

func readAck(t *testing.T, c *dtls.Conn) (uint64, string, uplinkapi.Ack) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 64<<10)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatalf("read answer: %v", err)
	}
	stamp, name, a, err := uplinkapi.DecodeAckDatagram(buf[:n])
	if err != nil {
		t.Fatal(err)
	}
	return stamp, name, a
}

// firstAnswer sends p every 200 ms until an answer comes: pion drops
// records that reach the hub before it has finished its side of the
// handshake (the uplink sends them again, as this does).
func firstAnswer(t *testing.T, c *dtls.Conn, p []byte) (uint64, string, uplinkapi.Ack) {
	t.Helper()
	buf := make([]byte, 64<<10)
	for range 25 {
		if _, err := c.Write(p); err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		if n, err := c.Read(buf); err == nil {
			stamp, name, a, err := uplinkapi.DecodeAckDatagram(buf[:n])
			if err != nil {
				t.Fatal(err)
			}
			return stamp, name, a
		}
	}
	t.Fatal("no answer in 5 s")
	return 0, "", uplinkapi.Ack{}
}

// readStored reads answers until one with status stored.
func readStored(t *testing.T, c *dtls.Conn) (uint64, uplinkapi.Ack) {
	t.Helper()
	for {
		stamp, _, a := readAck(t, c)
		if a.Status == uplinkapi.StatusStored {
			return stamp, a
		}
		if a.Status != uplinkapi.StatusGap {
			t.Fatalf("answer %+v, want stored", a)
		}
	}
}

func dtlsRecs(first uint64, n int) []wire.Record {
	out := make([]wire.Record, n)
	for i := range out {
		out[i] = wire.Record{Offset: first + uint64(i), Time: time.Unix(1, int64(i)).UTC(), Value: []byte{byte(i)}}
	}
	return out
}

// TestDTLSBadInput: a datagram that does not parse and a batch of another
// site are refused and counted, a replayed batch is a duplicate, a batch
// past a hole waits for the hole, and the store holds each record once.
func TestDTLSBadInput(t *testing.T) {
	s, authority, store := testDTLS(t)
	c := dialDTLS(t, s, siteTLS(t, authority, authority, "site1"))
	write := func(p []byte) {
		t.Helper()
		if _, err := c.Write(p); err != nil {
			t.Fatal(err)
		}
	}

	forged := uplinkapi.Batch{Site: "site2", Tenant: "t", Topic: "x", Records: dtlsRecs(0, 2)}
	if _, name, a := firstAnswer(t, c, uplinkapi.AppendBatchDatagram(nil, 1, &forged)); a.Status != uplinkapi.StatusRefused || a.Code != uplinkapi.CodeForbidden || name != "t/x" {
		t.Errorf("batch of another site: got %q %+v, want refused forbidden", name, a)
	}
	write([]byte("not a batch"))

	// Batch 2 before batch 1: held, answered with the mark 0.
	b1 := uplinkapi.Batch{Site: "site1", Tenant: "t", Topic: "x", Records: dtlsRecs(0, 3)}
	b2 := uplinkapi.Batch{Site: "site1", Tenant: "t", Topic: "x", From: 3, Records: dtlsRecs(3, 3)}
	write(uplinkapi.AppendBatchDatagram(nil, 2, &b2))
	if _, _, a := readAck(t, c); a.Status != uplinkapi.StatusGap || a.Next != 0 {
		t.Errorf("batch past a hole: got %+v, want gap at 0", a)
	}
	// The answers while a run is being stored say what is held (status
	// gap: nothing new stored); the store's answer follows.
	write(uplinkapi.AppendBatchDatagram(nil, 3, &b1))
	if stamp, a := readStored(t, c); a.Next != 6 || a.Stored != 6 || stamp != 3 {
		t.Errorf("hole filled: got stamp %d %+v, want stamp 3, stored 6 up to 6", stamp, a)
	}
	// The same batch again (a replay, or a retransmission): a duplicate.
	write(uplinkapi.AppendBatchDatagram(nil, 4, &b1))
	if _, a := readStored(t, c); a.Next != 6 || a.Stored != 0 || a.Duplicates != 3 {
		t.Errorf("replayed batch: got %+v, want 3 duplicates, next 6", a)
	}

	stored, dups, _, refused := s.recv.Counts()
	if stored != 6 || dups != 3 || refused < 2 {
		t.Errorf("counts: stored %d duplicates %d refused %d, want 6 3 2 (or more refused: the forged batch sent more than once)", stored, dups, refused)
	}
	info, err := store.Topic("t/site1.x")
	if err != nil || info.Next != 6 {
		t.Errorf("hub topic: %+v %v, want 6 records", info, err)
	}
	if _, err := store.Topic("t/site2.x"); err == nil {
		t.Error("the forged batch created a topic of site2")
	}
}

// TestDTLSAdmit: a site the hub's Admit refuses (revoked at the tower)
// gets no answer over DTLS and nothing of it is stored, as over MQTT; an
// admitted site's batch is stored.
func TestDTLSAdmit(t *testing.T) {
	s, authority, store := testDTLSAdmit(t, func(id string, hub bool, _ *x509.Certificate) error {
		if id == "site-gone" {
			return errors.New("revoked")
		}
		return nil
	})
	ok := dialDTLS(t, s, siteTLS(t, authority, authority, "site1"))
	b := uplinkapi.Batch{Site: "site1", Tenant: "t", Topic: "x", Records: dtlsRecs(0, 2)}
	if _, _, a := firstAnswer(t, ok, uplinkapi.AppendBatchDatagram(nil, 1, &b)); a.Status != uplinkapi.StatusStored && a.Status != uplinkapi.StatusGap {
		t.Errorf("admitted site's batch: %+v, want it stored", a)
	}
	gone, err := tryDTLS(t, s, siteTLS(t, authority, authority, "site-gone"))
	if err == nil {
		g := uplinkapi.Batch{Site: "site-gone", Tenant: "t", Topic: "x", Records: dtlsRecs(0, 2)}
		buf := make([]byte, 64<<10)
		for range 10 {
			gone.Write(uplinkapi.AppendBatchDatagram(nil, 1, &g))
			gone.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			if n, err := gone.Read(buf); err == nil {
				t.Fatalf("refused site got an answer: %q", buf[:n])
			}
		}
	}
	if _, err := store.Topic("t/site-gone.x"); err == nil {
		t.Error("a batch of the refused site was stored")
	}
	if _, err := store.Topic("t/site1.x"); err != nil {
		t.Errorf("the admitted site's topic: %v", err)
	}
}

// TestDTLSRefusesForeignCerts: a site certificate of another CA, and a
// certificate of the tower CA that is not for a client, get no session.
func TestDTLSRefusesForeignCerts(t *testing.T) {
	s, authority, _ := testDTLS(t)
	other, err := ca.LoadOrCreate(t.TempDir(), "other CA")
	if err != nil {
		t.Fatal(err)
	}
	cert, key, err := authority.ServerCert([]string{"127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]*tls.Config{
		"site of another CA": siteTLS(t, other, authority, "site1"),
		"server certificate": {Certificates: []tls.Certificate{{Certificate: [][]byte{cert.Raw}, PrivateKey: key}}, RootCAs: authority.Pool()},
	} {
		if _, err := tryDTLS(t, s, tc); err == nil {
			t.Errorf("%s: got a session", name)
		}
	}
}

// TestDTLSSelectiveAnswers: batches past holes are held and listed in the
// answers as ranges past the high-water mark; filling a hole stores what
// it joins and the list shrinks; nothing held is stored before the hole
// is filled. A sender of "SKD1" batches gets answers without ranges.
func TestDTLSSelectiveAnswers(t *testing.T) {
	s, authority, store := testDTLS(t)
	c := dialDTLS(t, s, siteTLS(t, authority, authority, "site1"))
	batch := func(i int) uplinkapi.Batch {
		return uplinkapi.Batch{Site: "site1", Tenant: "t", Topic: "x", From: uint64(3 * i), Records: dtlsRecs(uint64(3*i), 3)}
	}
	write := func(stamp uint64, p []byte) {
		t.Helper()
		if _, err := c.Write(p); err != nil {
			t.Fatal(err)
		}
	}
	send := func(stamp uint64, i int) {
		b := batch(i)
		write(stamp, uplinkapi.AppendBatchDatagram(nil, stamp, &b))
	}
	// await reads answers until one says next and held, with the stamp.
	await := func(what string, stamp, next uint64, held []uplinkapi.Range) {
		t.Helper()
		for {
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			buf := make([]byte, 64<<10)
			n, err := c.Read(buf)
			if err != nil {
				t.Fatalf("%s: no answer with next %d and held %v: %v", what, next, held, err)
			}
			st, _, a, sack, err := uplinkapi.DecodeSACKDatagram(buf[:n])
			if err != nil {
				t.Fatal(err)
			}
			if a.Next == next && st == stamp && cmp.Equal(sack.Held, held, cmpopts.EquateEmpty()) {
				if !sack.Complete {
					t.Errorf("%s: answer says its ranges were cut", what)
				}
				return
			}
			t.Logf("%s: answer stamp %d next %d held %v", what, st, a.Next, sack.Held)
		}
	}

	// Batches 0, 2, 3 and 5 of 0..5: 1 and 4 lost. (Batch 0 first, on
	// its own: pion drops records that come before the hub has finished
	// its side of the handshake, and the site would send them again.)
	b0 := batch(0)
	if _, _, a := firstAnswer(t, c, uplinkapi.AppendBatchDatagram(nil, 1, &b0)); a.Status != uplinkapi.StatusStored || a.Next != 3 {
		t.Fatalf("batch 0: got %+v, want stored up to 3", a)
	}
	for stamp, i := range []int{2, 3, 5} {
		send(uint64(stamp+2), i)
	}
	await("holes at 3 and 12", 4, 3, []uplinkapi.Range{{First: 6, Last: 11}, {First: 15, Last: 17}})
	if info, err := store.Topic("t/site1.x"); err != nil || info.Next != 3 {
		t.Fatalf("hub topic before the holes are filled: %+v %v, want batch 0 only (3 records)", info, err)
	}
	send(10, 1)
	await("hole at 3 filled", 10, 12, []uplinkapi.Range{{First: 15, Last: 17}})
	send(11, 4)
	await("hole at 12 filled", 11, 18, nil)
	if info, err := store.Topic("t/site1.x"); err != nil || info.Next != 18 {
		t.Errorf("hub topic: %+v %v, want 18 records", info, err)
	}

	// An older uplink ("SKD1") gets "SKA1" answers.
	b := batch(7)
	p := uplinkapi.AppendBatchDatagram(nil, 12, &b)
	copy(p, "SKD1")
	write(12, p)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 64<<10)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, a, sack, err := uplinkapi.DecodeSACKDatagram(buf[:n]); err != nil || !bytes.HasPrefix(buf, []byte("SKA1")) ||
		a.Status != uplinkapi.StatusGap || a.Next != 18 || sack.Held != nil {
		t.Errorf("answer to an SKD1 batch past a hole: %q %+v %+v %v, want SKA1, gap at 18, no ranges", buf[:4], a, sack, err)
	}
}

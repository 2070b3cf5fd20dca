package vault

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-tpm/tpm2"

	"github.com/skerry/skerry/qemu/swtpm"
	"github.com/skerry/skerry/services/api/vaultapi"
	"github.com/skerry/skerry/services/httpjson"
	"github.com/skerry/skerry/services/internal/tpm"
	"github.com/skerry/skerry/services/serve"
	"github.com/skerry/skerry/services/streamlog"
	slapi "github.com/skerry/skerry/services/streamlog/api"
	slclient "github.com/skerry/skerry/services/streamlog/client"
	"github.com/skerry/skerry/services/vault/client"
	"github.com/skerry/skerry/services/vault/seal"
)

// bench is a vault on a swtpm, serving on a socket, auditing into a real
// stream log.
type bench struct {
	dir, sock string
	tpm       *swtpm.Process
	v         *Vault
	sys       *client.Client
	slog      *slclient.Client
	stop      func()
}

func startStreamlog(t testing.TB) *slclient.Client {
	t.Helper()
	dir := t.TempDir()
	store, err := streamlog.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	auth, err := slapi.LoadAuth(dir)
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(t.TempDir(), "streamlog.sock")
	l, err := serve.Unix(sock, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { slapi.New(store, auth, slog.New(slog.DiscardHandler)).Serve(ctx, l); close(done) }()
	t.Cleanup(func() { cancel(); <-done; store.Close() })
	tok, err := os.ReadFile(auth.SystemTokenPath())
	if err != nil {
		t.Fatal(err)
	}
	c, err := slclient.New(sock, slclient.WithToken(string(tok)))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// start opens the vault in dir on p and serves it until stop.
func start(t testing.TB, dir string, p *swtpm.Process, sl *slclient.Client) *bench {
	t.Helper()
	b := &bench{dir: dir, tpm: p, slog: sl, sock: filepath.Join(t.TempDir(), "vault.sock")}
	audit := NewAuditor(slog.New(slog.DiscardHandler))
	v, err := Open(Options{Dir: dir, TPM: p.Path(), Audit: audit})
	if err != nil {
		t.Fatal(err)
	}
	b.v = v
	l, err := serve.Unix(b.sock, 0o666)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served, audited := make(chan struct{}), make(chan struct{})
	go func() {
		serve.HTTP(ctx, v.Handler(), serve.SiteLimits, slog.New(slog.DiscardHandler), l)
		close(served)
	}()
	go func() {
		if sl != nil {
			audit.Run(ctx, sl)
		}
		close(audited)
	}()
	tok, err := os.ReadFile(filepath.Join(dir, SystemTokenFile))
	if err != nil {
		t.Fatal(err)
	}
	b.sys = client.New(b.sock, string(tok))
	var once bool
	b.stop = func() {
		if once {
			return
		}
		once = true
		b.sys.Close()
		cancel()
		<-served
		<-audited
		v.Close()
	}
	t.Cleanup(b.stop)
	return b
}

func wantCode(t *testing.T, what string, err error, code *httpjson.Error) {
	t.Helper()
	if !errors.Is(err, code) {
		t.Errorf("%s: got %v, want code %s", what, err, code.Code)
	}
}

// noLeftovers checks that the vault left no object or session in the TPM.
func noLeftovers(t *testing.T, p *swtpm.Process) {
	t.Helper()
	tp, err := tpm.OpenTransport(p.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer tp.Close()
	hs, err := seal.Loaded(tp)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hs {
		t.Errorf("handle %#x left in the TPM", uint32(h))
	}
}

func extendPCR(t *testing.T, p *swtpm.Process, pcr int) {
	t.Helper()
	tp, err := tpm.OpenTransport(p.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer tp.Close()
	d := sha256.Sum256([]byte("a new kernel command line"))
	_, err = tpm2.PCRExtend{
		PCRHandle: tpm2.AuthHandle{Handle: tpm2.TPMHandle(pcr), Auth: tpm2.PasswordAuth(nil)},
		Digests:   tpm2.TPMLDigestValues{Digests: []tpm2.TPMTHA{{HashAlg: tpm2.TPMAlgSHA256, Digest: d[:]}}},
	}.Execute(tp)
	if err != nil {
		t.Fatal(err)
	}
}

func TestVaultOnTPM(t *testing.T) {
	p := swtpm.New(t, swtpm.Options{})
	sl := startStreamlog(t)
	dir := t.TempDir()
	b := start(t, dir, p, sl)
	ctx := t.Context()

	st, err := b.sys.Status(ctx)
	if err != nil || st.State != vaultapi.StateUnsealed || st.MasterGeneration != 1 {
		t.Fatalf("first start: status %+v, %v", st, err)
	}
	noLeftovers(t, p)

	acmeTok, err := b.sys.NewToken(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	betaTok, _ := b.sys.NewToken(ctx, "beta")
	acme, beta := client.New(b.sock, acmeTok), client.New(b.sock, betaTok)
	defer acme.Close()
	defer beta.Close()

	if _, err := acme.PutSecret(ctx, "db", []byte("hunter2")); err != nil {
		t.Fatal(err)
	}
	if _, err := acme.CreateKey(ctx, "pii", vaultapi.KeyAES256GCM); err != nil {
		t.Fatal(err)
	}
	ct, err := acme.Encrypt(ctx, "pii", []byte("4111 1111"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := acme.CreateKey(ctx, "sig", vaultapi.KeyEd25519); err != nil {
		t.Fatal(err)
	}
	sig, err := acme.Sign(ctx, "sig", []byte("release 1.2"))
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := acme.Verify(ctx, "sig", []byte("release 1.2"), sig); err != nil || !ok {
		t.Errorf("Verify: %v, %v", ok, err)
	}

	// Tenant B cannot read, list or use A's secrets and keys.
	_, err = beta.Secret(ctx, "db", 0)
	wantCode(t, "beta reads db", err, httpjson.ErrNotFound)
	_, err = beta.ForTenant("acme").Secret(ctx, "db", 0)
	wantCode(t, "beta reads acme's db with ?tenant=acme", err, httpjson.ErrForbidden)
	_, err = beta.ForTenant("acme").Secrets(ctx)
	wantCode(t, "beta lists acme's secrets", err, httpjson.ErrForbidden)
	if l, err := beta.Secrets(ctx); err != nil || len(l) != 0 {
		t.Errorf("beta's list: %v, %v; want empty", l, err)
	}
	_, err = beta.Decrypt(ctx, "pii", ct.Ciphertext, nil)
	wantCode(t, "beta decrypts with acme's key name", err, httpjson.ErrNotFound)
	_, err = beta.Sign(ctx, "sig", []byte("x"))
	wantCode(t, "beta signs with acme's key name", err, httpjson.ErrNotFound)
	_, err = beta.NewToken(ctx, "beta")
	wantCode(t, "beta makes a token", err, httpjson.ErrForbidden)
	_, err = client.New(b.sock, "skv_guess").Secrets(ctx)
	wantCode(t, "a made-up token", err, httpjson.ErrUnauthenticated)
	if n, err := b.sys.RevokeTokens(ctx, "beta"); err != nil || n != 1 {
		t.Errorf("RevokeTokens(beta): %d, %v; want 1", n, err)
	}
	_, err = beta.Secrets(ctx)
	wantCode(t, "beta's revoked token", err, httpjson.ErrUnauthenticated)
	if _, err := acme.Secrets(ctx); err != nil {
		t.Errorf("acme's token after beta's were revoked: %v", err)
	}

	// Rotate the master key through the API; restart: the box unseals by
	// itself, with generation 2, and everything reads.
	if st, err := b.sys.RotateMaster(ctx); err != nil || st.MasterGeneration != 2 {
		t.Fatalf("RotateMaster: %+v, %v", st, err)
	}
	if err := b.sys.RotateDataKey(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	b.stop()
	if _, err := os.Stat(filepath.Join(dir, "master-1.json")); !os.IsNotExist(err) {
		t.Errorf("the old sealed master key is still there: %v", err)
	}
	b = start(t, dir, p, sl)
	acme = client.New(b.sock, acmeTok)
	if s, err := acme.Secret(ctx, "db", 0); err != nil || string(s.Value) != "hunter2" {
		t.Errorf("after restart: secret %q, %v", s.Value, err)
	}
	if pt, err := acme.Decrypt(ctx, "pii", ct.Ciphertext, nil); err != nil || string(pt) != "4111 1111" {
		t.Errorf("after restart: decrypt %q, %v", pt, err)
	}
	st, _ = b.sys.Status(ctx)
	t.Logf("unseal at start: %d TPM commands", st.UnsealCommands)
	noLeftovers(t, p)

	// The audit topic has the accesses, refusals included.
	b.stop()
	var events []Event
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		recs, err := sl.Read(ctx, AuditTopic, slclient.From{}, 1000)
		if err == nil {
			events = events[:0]
			for _, r := range recs {
				var e Event
				json.Unmarshal(r.Value, &e)
				events = append(events, e)
			}
		}
		if len(events) >= 15 {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	var refused []string
	for _, e := range events {
		if !e.Allowed {
			refused = append(refused, e.Who+" "+e.Action+" "+e.Tenant+" "+e.Object)
		}
	}
	want := []string{
		"tenant:beta secret.get acme secret/db",
		"tenant:beta secret.list acme ",
		"tenant:beta token.create  ",
		"anonymous secret.list  ",
		"anonymous secret.list  ",
	}
	if diff := cmp.Diff(want, refused); diff != "" {
		t.Errorf("refusals in the audit topic (-want +got):\n%s", diff)
	}
}

// TestSealedWhenPCRsChange: a changed boot chain leaves the vault sealed,
// naming the PCR, and the API says so; the service still starts.
func TestSealedWhenPCRsChange(t *testing.T) {
	p := swtpm.New(t, swtpm.Options{})
	dir := t.TempDir()
	b := start(t, dir, p, nil)
	tok, _ := b.sys.NewToken(t.Context(), "acme")
	acme := client.New(b.sock, tok)
	if _, err := acme.PutSecret(t.Context(), "db", []byte("x")); err != nil {
		t.Fatal(err)
	}
	b.stop()

	extendPCR(t, p, 12)
	b = start(t, dir, p, nil)
	st, err := b.sys.Status(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if st.State != vaultapi.StateSealed || !strings.Contains(st.Reason, "PCR 12") {
		t.Errorf("status after extending PCR 12: %+v", st)
	}
	if diff := cmp.Diff([]int{12}, st.ChangedPCRs); diff != "" {
		t.Errorf("changed PCRs (-want +got):\n%s", diff)
	}
	acme = client.New(b.sock, tok)
	_, err = acme.Secret(t.Context(), "db", 0)
	wantCode(t, "secret while sealed", err, vaultapi.ErrSealed)
	noLeftovers(t, p)
	// A changed PCR is no reason to try again and again.
	start := time.Now()
	b.v.KeepUnsealing(t.Context(), time.Hour)
	if d := time.Since(start); d > time.Second {
		t.Errorf("KeepUnsealing with changed PCRs took %v, want an immediate return", d)
	}
}

// TestCopiedToAnotherTPM: the vault's directory copied to a box with
// another TPM stays sealed.
func TestCopiedToAnotherTPM(t *testing.T) {
	p := swtpm.New(t, swtpm.Options{})
	dir := t.TempDir()
	b := start(t, dir, p, nil)
	b.stop()
	copied := t.TempDir()
	if out, err := exec.Command("cp", "-a", dir+"/.", copied).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v: %s", err, out)
	}
	other := swtpm.New(t, swtpm.Options{})
	b = start(t, copied, other, nil)
	st, _ := b.sys.Status(t.Context())
	if st.State != vaultapi.StateSealed || !strings.Contains(st.Reason, "refused") {
		t.Errorf("on another TPM: status %+v, want sealed and refused", st)
	}
}

// TestRotationCutShort: a master rotation that stopped after sealing the
// new key but before the store switched leaves the store on the old key;
// the next start unseals the old one, removes the stray file, and loses
// nothing.
func TestRotationCutShort(t *testing.T) {
	p := swtpm.New(t, swtpm.Options{})
	dir := t.TempDir()
	v, err := Open(Options{Dir: dir, TPM: p.Path()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Store.PutSecret("acme", "db", []byte("kept")); err != nil {
		t.Fatal(err)
	}
	if err := v.m.seal(newMasterKey(), 2); err != nil { // the crash comes here
		t.Fatal(err)
	}
	v.Close()

	v, err = Open(Options{Dir: dir, TPM: p.Path()})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if st := v.Status(); st.State != vaultapi.StateUnsealed || st.MasterGeneration != 1 {
		t.Fatalf("after the cut-short rotation: %+v", st)
	}
	if s, err := v.Store.Secret("acme", "db", 0); err != nil || string(s.Value) != "kept" {
		t.Errorf("secret: %q, %v", s.Value, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "master-2.json")); !os.IsNotExist(err) {
		t.Errorf("the stray master-2.json is still there: %v", err)
	}
	// And a full rotation now works.
	if st, err := v.RotateMaster(); err != nil || st.MasterGeneration != 2 {
		t.Errorf("RotateMaster: %+v, %v", st, err)
	}
}

// TestKeepUnsealing: a TPM that is not there yet at start (its driver
// still loading) leaves the vault sealed; it unseals once the TPM comes.
func TestKeepUnsealing(t *testing.T) {
	swtpm.New(t, swtpm.Options{}) // gates the test; the TPM under test starts later
	cfg := swtpm.Config{State: filepath.Join(t.TempDir(), "state"), Dir: t.TempDir()}
	v, err := Open(Options{Dir: t.TempDir(), TPM: "unix:" + cfg.SocketPath()})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	if st := v.Status(); st.State != vaultapi.StateSealed {
		t.Fatalf("with no TPM: %+v, want sealed", st)
	}
	p, err := swtpm.Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	v.KeepUnsealing(ctx, 50*time.Millisecond)
	if st := v.Status(); st.State != vaultapi.StateUnsealed {
		t.Errorf("after the TPM came: %+v, want unsealed", st)
	}
}

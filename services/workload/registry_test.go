package workload

import (
	"context"
	"encoding/pem"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/google/go-containerregistry/pkg/registry"

	"github.com/skerry/skerry/services/api/workloadapi"
)

// TestPullFromRegistry runs a real OCI registry (go-containerregistry's)
// over TLS on loopback, behind basic authentication, pushes the probe
// image to it, and has the runner pull it per tenant: with the tenant's
// credentials and the registry's CA it runs; a tenant without credentials,
// or a runner that does not trust the registry's certificate, is refused.
func TestPullFromRegistry(t *testing.T) {
	host, caFile := startRegistry(t, "acme-puller", "s3cret")
	pool, err := RootCAs(caFile)
	if err != nil {
		t.Fatal(err)
	}
	creds := map[string]map[string]Credential{"acme": {host: {"acme-puller", "s3cret"}}}
	trusted := WithRegistry(func(tenant string) Registry { return Registry{RootCAs: pool, Credentials: creds[tenant]} })

	r, _, archive, dir := newRunner(t, trusted)
	ref := host + "/acme/probe:1"
	push(t, r, archive, ref)

	spec := func(tenant, name string) *workloadapi.AppSpec {
		s := probeSpec(tenant, name, "", map[string]string{"RUN": "pulled"})
		s.Image = workloadapi.Image{Ref: ref}
		s.Restart.Policy = workloadapi.RestartNever
		return s
	}
	ctx := context.Background()
	if err := r.Apply(ctx, spec("acme", "pulled")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the pulled app to run and exit", 2*time.Minute, func() bool { return statusOf(r, "acme", "pulled").State == StateExited })
	if out := readLog(filepath.Join(dir, "logs", "acme", "pulled.log")); !strings.Contains(out, "probe run=pulled") {
		t.Errorf("the pulled app's output: %q", out)
	}

	// Another tenant has no credentials for that registry.
	if err := r.Apply(ctx, spec("bravo", "pulled")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "bravo's pull to fail", 2*time.Minute, func() bool { return statusOf(r, "bravo", "pulled").State == StateFailed })
	if st := statusOf(r, "bravo", "pulled"); !strings.Contains(st.Error, "authorization") {
		t.Errorf("bravo's pull: %q, want an authorization refusal", st.Error)
	}

	// A runner that does not trust the registry's certificate.
	r2, _, _, _ := newRunner(t, WithRegistry(func(string) Registry { return Registry{Credentials: creds["acme"]} }))
	if err := r2.Apply(ctx, spec("acme", "untrusted")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the untrusted pull to fail", 2*time.Minute, func() bool { return statusOf(r2, "acme", "untrusted").State == StateFailed })
	if st := statusOf(r2, "acme", "untrusted"); !strings.Contains(st.Error, "registry "+host+" presents a certificate this site does not trust") ||
		!strings.Contains(st.Error, "workload.registryCAs") {
		t.Errorf("untrusted pull: %q, want a certificate error naming %s and workload.registryCAs", st.Error, host)
	}
	if _, err := RootCAs(filepath.Join(t.TempDir(), "none")); err == nil {
		t.Error("RootCAs of a missing file: no error")
	}
}

// startRegistry runs a real OCI registry (go-containerregistry's) over
// TLS on loopback, behind basic authentication for user:pass; it returns
// its host and its CA as a PEM file, as the site config gives it.
func startRegistry(t *testing.T, user, pass string) (string, string) {
	t.Helper()
	reg := httptest.NewUnstartedServer(basicAuth(user, pass, registry.New(registry.Logger(log.New(io.Discard, "", 0)))))
	reg.Config.ErrorLog = log.New(io.Discard, "", 0) // the untrusted case fails handshakes on purpose
	reg.StartTLS()
	t.Cleanup(reg.Close)
	caFile := filepath.Join(t.TempDir(), "registry-ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: reg.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	return strings.TrimPrefix(reg.URL, "https://"), caFile
}

// basicAuth lets only user:pass through.
func basicAuth(user, pass string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if u, p, ok := req.BasicAuth(); !ok || u != user || p != pass {
			w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, req)
	})
}

// push imports the archive into a staging namespace and pushes it to ref
// with acme's credentials, as a CI system would publish an app.
func push(t *testing.T, r *Runner, archive, ref string) {
	t.Helper()
	ctx := nsCtx(context.Background(), "staging")
	f, err := os.Open(archive)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	imgs, err := r.client.Import(ctx, f)
	if err != nil || len(imgs) != 1 {
		t.Fatalf("import: %v, %v", imgs, err)
	}
	res, _ := r.resolver(ctx, "acme")
	if err := r.client.Push(ctx, ref, imgs[0].Target, containerd.WithResolver(res)); err != nil {
		t.Fatalf("push %s: %v", ref, err)
	}
}

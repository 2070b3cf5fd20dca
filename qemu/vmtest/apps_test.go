package vmtest

import (
	"archive/tar"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"

	"github.com/skerry/skerry/qemu/ocitest"
	"github.com/skerry/skerry/services/api/towerapi"
	"github.com/skerry/skerry/services/api/workloadapi"
)

// checkApps follows an app from the tower to box A and back, with the
// real agent and workload service: version 1 reaches the site at once,
// runs healthy and the tower shows it so; version 2 (whose HTTP health
// check fails) rolls out with a canary step, turns unhealthy on the site
// and is rolled back to version 1 without a person; after box A's reboot
// (which testRegistration does later) the site converges to version 1
// running again, checked in a cleanup that runs before the VM is closed.
//
// The image is pulled from hr, a real registry on host loopback with a CA
// of its own, which box A's site config trusts (workload.registryCAs).
func checkApps(t *testing.T, tw *hostTower, siteID, arch string, hr *hostRegistry) {
	t.Helper()
	app := "hello-" + arch
	dir := t.TempDir()
	for v := 1; v <= 2; v++ {
		spec := fmt.Sprintf(`{"version": 1, "tenant": "acme", "name": %q,
  "image": {"ref": "10.0.2.2:%s/acme/hello:1"}, "env": {"V": "%d"},
  "health": {"http": {"port": 8080, "path": "/healthz"}, "interval": "2s", "onUnhealthy": "mark"},
  "ports": [{"host": %d, "container": 8080}]}`, app, hr.Port, v, appHostPort)
		f := filepath.Join(dir, fmt.Sprintf("v%d.json", v))
		if err := os.WriteFile(f, []byte(spec), 0o644); err != nil {
			t.Fatal(err)
		}
		tw.run(t, "apps", "put", "-f", f)
	}

	// Version 1, all at once: the site pulls it, runs it healthy and
	// reports it.
	// Box A of this arch only: its enrollment token labelled it.
	tw.run(t, "deploy", "set", "-version", "1", "-selector", "arch="+arch, "acme/"+app)
	waitAppStatus(t, tw, siteID, app, "version 1 running healthy", func(s workloadapi.Status) bool {
		return s.AppVersion == 1 && s.State == workloadapi.StateRunning && s.Health == workloadapi.HealthHealthy
	})

	// Version 2 with a canary: it fails there and is rolled back.
	tw.run(t, "deploy", "set", "-version", "2", "-selector", "arch="+arch, "-canary", "1", "-canary-healthy", "10s", "-site-timeout", "3m", "acme/"+app)
	var d towerapi.Deployment
	for deadline := time.Now().Add(5 * time.Minute); ; time.Sleep(2 * time.Second) {
		tw.json(t, &d, "rollout", "status", "-o", "json", "acme/"+app)
		if d.Rollout != nil && d.Rollout.State != towerapi.RolloutProgressing {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the rollout of version 2 never stopped: %+v", d.Rollout)
		}
	}
	if d.Rollout.State != towerapi.RolloutRolledBack || d.Rollout.Failed != 1 || d.Rollout.Sites[0].Site != siteID {
		t.Fatalf("rollout of version 2: %+v; want rolled back after box A (the canary) failed", d.Rollout)
	}
	t.Logf("rollout of version 2: %s", d.Rollout.Reason)
	waitAppStatus(t, tw, siteID, app, "version 1 back", func(s workloadapi.Status) bool {
		return s.AppVersion == 1 && s.State == workloadapi.StateRunning
	})
	boot := site(t, tw, siteID).BootID

	t.Cleanup(func() {
		if t.Failed() {
			return
		}
		var s towerapi.Site
		for deadline := time.Now().Add(5 * time.Minute); ; time.Sleep(2 * time.Second) {
			s = site(t, tw, siteID)
			if st := appStatus(s, app); s.BootID != boot && st != nil && st.AppVersion == 1 && st.State == workloadapi.StateRunning {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("after the reboot (boot %s, before %s) box A reports %+v, want %s running at version 1", s.BootID, boot, s.Apps, app)
				return
			}
		}
		tw.json(t, &d, "rollout", "status", "-o", "json", "acme/"+app)
		if d.Rollout.State != towerapi.RolloutRolledBack {
			t.Errorf("after the reboot the rollout is %s, want still rolled back", d.Rollout.State)
		}
	})
}

func appStatus(s towerapi.Site, app string) *workloadapi.Status {
	for i := range s.Apps {
		if s.Apps[i].Tenant == "acme" && s.Apps[i].Name == app {
			return &s.Apps[i]
		}
	}
	return nil
}

// waitAppStatus waits until the tower shows the site's app as ok wants.
func waitAppStatus(t *testing.T, tw *hostTower, siteID, app, what string, ok func(workloadapi.Status) bool) workloadapi.Status {
	t.Helper()
	var s towerapi.Site
	for deadline := time.Now().Add(5 * time.Minute); time.Now().Before(deadline); time.Sleep(2 * time.Second) {
		s = site(t, tw, siteID)
		if st := appStatus(s, app); st != nil && ok(*st) {
			return *st
		}
	}
	t.Fatalf("%s: box A reports %+v", what, s.Apps)
	return workloadapi.Status{}
}

// hostRegistry is a real OCI registry (go-containerregistry's) over TLS
// on host loopback, with a certificate from a CA of its own that names
// 10.0.2.2, the address guests reach it at.
type hostRegistry struct {
	Port string // guests pull from 10.0.2.2:Port
	CA   string // PEM, for the site config's workload.registryCAs
}

// helloSource serves /healthz on :8080: healthy unless V is 2; and
// /secret?file=F&sha256=H (checkTowerSecret): healthy when
// /run/secrets/F holds a value of that SHA-256.
const helloSource = `package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
)

func main() {
	fmt.Println("hello version", os.Getenv("V"))
	http.ListenAndServe(":8080", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/secret" {
			b, err := os.ReadFile(filepath.Join("/run/secrets", filepath.Base(r.URL.Query().Get("file"))))
			sum := sha256.Sum256(b)
			if err != nil || hex.EncodeToString(sum[:]) != r.URL.Query().Get("sha256") {
				http.Error(w, "the secret's file is missing or holds another value", http.StatusInternalServerError)
				return
			}
			fmt.Fprintln(w, "ok")
			return
		}
		if os.Getenv("V") == "2" {
			http.Error(w, "version 2 is broken", http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, "ok")
	}))
}
`

// startRegistry starts the registry and pushes acme/hello:1, built for
// arch, to it.
func startRegistry(t *testing.T, arch string) *hostRegistry {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "vmtest registry CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leafDER, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "registry"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv4(10, 0, 2, 2)}}, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	reg := httptest.NewUnstartedServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	reg.Config.ErrorLog = log.New(io.Discard, "", 0)
	reg.TLS = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{leafDER}, PrivateKey: key}}}
	reg.StartTLS()
	t.Cleanup(reg.Close)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(reg.URL, "https://"))

	archive := filepath.Join(t.TempDir(), "hello.tar")
	if err := ocitest.Build(ocitest.Image{Name: "skerry.test/hello:1", Arch: arch, Source: helloSource}, archive); err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(caCert)
	client := &http.Client{Timeout: time.Minute, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	if err := pushArchive(client, reg.URL, "acme/hello", "1", archive); err != nil {
		t.Fatalf("push the test image to the host registry: %v", err)
	}
	return &hostRegistry{Port: port, CA: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}))}
}

// pushArchive pushes the one image of an ocitest archive to a registry
// with the distribution API: every blob, then the manifest as tag.
func pushArchive(client *http.Client, base, repo, tag, archive string) error {
	f, err := os.Open(archive)
	if err != nil {
		return err
	}
	defer f.Close()
	files := map[string][]byte{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if files[h.Name], err = io.ReadAll(tr); err != nil {
			return err
		}
	}
	var index struct {
		Manifests []struct{ MediaType, Digest string }
	}
	if err := json.Unmarshal(files["index.json"], &index); err != nil || len(index.Manifests) != 1 {
		return fmt.Errorf("index.json: %v, %d manifests", err, len(index.Manifests))
	}
	m := index.Manifests[0]
	do := func(method, url, ctype string, body []byte, want int) (*http.Response, error) {
		req, err := http.NewRequest(method, url, bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		if ctype != "" {
			req.Header.Set("Content-Type", ctype)
		}
		resp, err := client.Do(req)
		if err != nil {
			return nil, err
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			return nil, fmt.Errorf("%s %s: %s", method, url, resp.Status)
		}
		return resp, nil
	}
	for name, data := range files {
		hexDigest, ok := strings.CutPrefix(name, "blobs/sha256/")
		if !ok || "sha256:"+hexDigest == m.Digest {
			continue
		}
		resp, err := do("POST", base+"/v2/"+repo+"/blobs/uploads/", "", nil, http.StatusAccepted)
		if err != nil {
			return err
		}
		loc, err := resp.Location()
		if err != nil {
			return err
		}
		q := loc.Query()
		q.Set("digest", "sha256:"+hexDigest)
		loc.RawQuery = q.Encode()
		if _, err := do("PUT", loc.String(), "application/octet-stream", data, http.StatusCreated); err != nil {
			return err
		}
	}
	manifest := files["blobs/sha256/"+strings.TrimPrefix(m.Digest, "sha256:")]
	_, err = do("PUT", base+"/v2/"+repo+"/manifests/"+tag, m.MediaType, manifest, http.StatusCreated)
	return err
}

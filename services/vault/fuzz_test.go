package vault

import (
	"net/http/httptest"
	"os"
	"strings"
	"testing"
)

// FuzzAPI sends arbitrary bodies to every route with a tenant's and the
// system token: no input may crash the vault or get a 5xx
// (master rotation, which needs a TPM, is left to vault_test.go).
func FuzzAPI(f *testing.F) {
	for _, seed := range []string{
		`{"value":"aGk="}`, `{"name":"k","type":"aes256-gcm"}`, `{"plaintext":"aGk=","context":""}`,
		`{"ciphertext":"vault:v1:AAAA"}`, `{"ciphertext":"vault:v99999999999999999999:"}`,
		`{"value":"4111111111111111","alphabet":"0123456789","version":1}`,
		`{"value":"x","mode":"keep","first":-1}`, `{"message":"aGk=","signature":"","version":1}`,
		`{"tenant":"acme"}`, `[]`, `null`, `{"value":` + strings.Repeat("[", 100),
	} {
		f.Add(seed)
	}
	v, _, _ := memVault(f)
	tok, err := v.Auth.NewTenantToken("acme")
	if err != nil {
		f.Fatal(err)
	}
	sysTok, _ := os.ReadFile(v.Auth.SystemTokenPath())
	for _, typ := range []string{"aes256-gcm", "ff1-aes256", "ed25519", "ecdsa-p256"} {
		if _, err := v.Store.CreateKey("acme", "k-"+typ, typ); err != nil {
			f.Fatal(err)
		}
	}
	h := v.Handler()
	f.Fuzz(func(t *testing.T, body string) {
		for _, rt := range routes {
			if rt.action == "master.rotate" {
				continue // needs the TPM: vault_test.go
			}
			method, path, _ := strings.Cut(rt.pattern, " ")
			// One key type and one token per input keeps each run to a
			// request per route; the fuzzer varies the length.
			names := []string{"k-aes256-gcm", "k-ff1-aes256", "k-ed25519", "k-ecdsa-p256"}
			auth := []string{tok, strings.TrimSpace(string(sysTok))}[len(body)%2]
			p := strings.ReplaceAll(strings.ReplaceAll(path, "{name}", names[len(body)%4]), "{tenant}", "acme")
			r := httptest.NewRequest(method, p+"?tenant=acme", strings.NewReader(body))
			r.Header.Set("Authorization", "Bearer "+auth)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code >= 500 {
				t.Fatalf("%s %s with %q: %d %s", method, p, body, w.Code, w.Body)
			}
		}
	})
}

package tower_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/skerry/skerry/services/api/enrollapi"
	"github.com/skerry/skerry/services/tower"
)

// FuzzDeploymentBody puts untrusted bytes as a deployment (with or
// without a strategy): the tower answers below 500, a refusal with an
// Error body, and a stored deployment can be read back.
func FuzzDeploymentBody(f *testing.F) {
	f.Add([]byte(`{"version":1}`))
	f.Add([]byte(`{"version":1,"selector":{"a":"b"},"strategy":{"canary":2,"canaryHealthySeconds":60,"batchSize":10,"maxFailureFraction":0.5,"onFailure":"pause","siteTimeoutSeconds":600}}`))
	f.Add([]byte(`{"version":1,"strategy":{"canary":-1,"maxFailureFraction":1e400}}`))
	o, err := tower.Open(context.Background(), f.TempDir())
	if err != nil {
		f.Fatal(err)
	}
	defer o.Close()
	tok, err := tower.ReadToken(o.TokenFile)
	if err != nil {
		f.Fatal(err)
	}
	h := o.Handler()
	do := func(method, path string, body []byte) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, path, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	for _, r := range []struct{ method, path, body string }{
		{"POST", "/v1/tenants", `{"id":"acme"}`},
		{"PUT", "/v1/tenants/acme/apps/web", string(specJSON("acme", "web", "1"))},
	} {
		if rec := do(r.method, r.path, []byte(r.body)); rec.Code >= 300 {
			f.Fatalf("%s %s: %d %s", r.method, r.path, rec.Code, rec.Body)
		}
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		rec := do("PUT", "/v1/tenants/acme/deployments/web", body)
		if rec.Code >= 500 && rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("PUT %q: status %d: %s", body, rec.Code, rec.Body)
		}
		if rec.Code >= 300 {
			var e enrollapi.Error
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Code == "" || e.Message == "" {
				t.Fatalf("PUT %q: refusal body %q is not an Error", body, rec.Body)
			}
			return
		}
		if rec := do("GET", "/v1/tenants/acme/deployments/web", nil); rec.Code != http.StatusOK {
			t.Fatalf("GET after PUT %q: %d %s", body, rec.Code, rec.Body)
		}
	})
}

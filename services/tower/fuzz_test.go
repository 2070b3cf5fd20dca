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

// FuzzEnrollBody posts untrusted bytes to the unauthenticated enrollment
// endpoints: whatever arrives, the tower answers with a status below 500
// and, for a refusal, an Error body. The AK and key parameters are TPM
// structures parsed by go-tpm, so this fuzzes those parsers too.
// Seeds: testdata/fuzz/FuzzEnrollBody.
func FuzzEnrollBody(f *testing.F) {
	f.Add(false, []byte(`{"ekPublic":"AAAA","ak":{"public":"AAEACwAFBHIAAAAQABQACwgAAAAAAAEA"}}`))
	f.Add(true, []byte(`{"challengeId":"ch-00","activatedSecret":"AAAA","csr":"MIIB"}`))
	f.Add(false, []byte(`{"software":true,"token":"sken_x"}`))
	o, err := tower.Open(context.Background(), f.TempDir())
	if err != nil {
		f.Fatal(err)
	}
	defer o.Close()
	h := o.Handler()
	f.Fuzz(func(t *testing.T, finish bool, body []byte) {
		path := enrollapi.PathEnrollStart
		if finish {
			path = enrollapi.PathEnrollFinish
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body)))
		if rec.Code >= 500 && rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("POST %s %q: status %d: %s", path, body, rec.Code, rec.Body)
		}
		if rec.Code >= 300 {
			var e enrollapi.Error
			if err := json.Unmarshal(rec.Body.Bytes(), &e); err != nil || e.Code == "" || e.Message == "" {
				t.Fatalf("POST %s: refusal body %q is not an Error", path, rec.Body)
			}
		}
	})
}

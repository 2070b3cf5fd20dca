package api

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/skerry/skerry/services/streamlog"
	"github.com/skerry/skerry/services/streamlog/wire"
)

var osReadFile = os.ReadFile

// FuzzRequests sends arbitrary bodies and query strings to every endpoint
// that takes input; the service must answer each with a status below 500.
func FuzzRequests(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "fuzz", "requests", "*"))
	for _, p := range files {
		b, _ := os.ReadFile(p)
		f.Add(uint8(0), "", b)
	}
	f.Add(uint8(0), "", []byte(`{"name":"acme/t","config":{"maxAge":"1h"}}`))
	f.Add(uint8(1), "", wire.AppendFrame(nil, []wire.Record{{Key: []byte("k"), Value: []byte("v")}}))
	f.Add(uint8(2), "offset=0&max=5", []byte(nil))
	f.Add(uint8(3), "", []byte(`{"offset":0}`))
	f.Add(uint8(4), "", []byte(`{"tenant":"acme"}`))
	dir := f.TempDir()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := streamlog.Open(dir, streamlog.WithLogger(log))
	if err != nil {
		f.Fatal(err)
	}
	defer st.Close()
	auth, err := LoadAuth(dir)
	if err != nil {
		f.Fatal(err)
	}
	tok, _ := readToken(auth.SystemTokenPath())
	srv := New(st, auth, log)
	st.CreateTopic("acme/t", streamlog.TopicConfig{})
	f.Fuzz(func(t *testing.T, which uint8, query string, body []byte) {
		var method, path string
		switch which % 5 {
		case 0:
			method, path = "POST", "/v1/topics"
		case 1:
			method, path = "POST", "/v1/topics/acme/t/records"
		case 2:
			method, path = "GET", "/v1/topics/acme/t/records"
		case 3:
			method, path = "PUT", "/v1/topics/acme/t/cursors/c"
		case 4:
			method, path = "POST", "/v1/tokens"
		}
		if _, err := url.ParseRequestURI(path + "?" + query); err != nil || strings.ContainsAny(query, "# ") {
			return // not a request a client could send
		}
		req := httptest.NewRequest(method, path+"?"+query, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		if which%5 == 1 && len(body) > 0 && body[0]%2 == 0 {
			req.Header.Set(wire.HeaderProducer, "p")
			req.Header.Set(wire.HeaderSequence, query)
		}
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		if rec.Code >= 500 && rec.Code != http.StatusInsufficientStorage {
			t.Fatalf("%s %s?%s: status %d: %s", method, path, query, rec.Code, rec.Body)
		}
	})
}

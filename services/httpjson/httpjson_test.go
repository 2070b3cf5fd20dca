package httpjson

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

type body struct {
	Name  string `json:"name"`
	Count int    `json:"count"`
}

func TestDecode(t *testing.T) {
	for _, tc := range []struct {
		name, in   string
		want       body
		wantStatus int
		wantMsg    string
	}{
		{name: "ok", in: `{"name":"a","count":2}`, want: body{"a", 2}},
		{name: "unknown field", in: `{"nmae":"a"}`, wantStatus: 400, wantMsg: `unknown field "nmae"`},
		{name: "trailing data", in: `{"name":"a"} {}`, wantStatus: 400, wantMsg: "data after the JSON value"},
		{name: "not json", in: `name=a`, wantStatus: 400, wantMsg: "not a valid httpjson.body"},
		{name: "empty", in: ``, wantStatus: 400, wantMsg: "EOF"},
		{name: "too large", in: `{"name":"` + strings.Repeat("x", 100) + `"}`, wantStatus: 413, wantMsg: "larger than 64 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/", strings.NewReader(tc.in))
			var got body
			err := Decode(httptest.NewRecorder(), r, 64, &got)
			if tc.wantStatus == 0 {
				if err != nil {
					t.Fatalf("Decode(%s): %v", tc.in, err)
				}
				if got != tc.want {
					t.Errorf("Decode(%s): got %+v, want %+v", tc.in, got, tc.want)
				}
				return
			}
			e, ok := errors.AsType[*Error](err)
			if !ok || e.Status != tc.wantStatus || !strings.Contains(e.Message, tc.wantMsg) {
				t.Errorf("Decode(%s): got %#v, want status %d and a message with %q", tc.in, err, tc.wantStatus, tc.wantMsg)
			}
		})
	}
}

// TestDecodeStopsAtLimit checks that a body declared or sent larger than
// the limit is not read past it: memory stays bounded by the limit, not
// by what the client sends.
func TestDecodeStopsAtLimit(t *testing.T) {
	var read int64
	src := io.MultiReader(strings.NewReader(`{"name":"`), &countingZeros{n: 1 << 30, read: &read})
	r := httptest.NewRequest("POST", "/", src)
	err := Decode(httptest.NewRecorder(), r, 1<<10, &body{})
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("got %v, want too_large", err)
	}
	if read > 64<<10 {
		t.Errorf("read %d bytes of a 1 GiB body with a 1 KiB limit", read)
	}
}

type countingZeros struct {
	n    int64
	read *int64
}

func (c *countingZeros) Read(p []byte) (int, error) {
	if c.n == 0 {
		return 0, io.EOF
	}
	n := min(int64(len(p)), c.n)
	for i := range p[:n] {
		p[i] = 'x'
	}
	c.n -= n
	*c.read += n
	return int(n), nil
}

func TestWriteErrorAndReadError(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/html" {
			w.WriteHeader(http.StatusBadGateway)
			io.WriteString(w, "<html>bad gateway</html>")
			return
		}
		WriteError(w, http.StatusNotFound, CodeNotFound, "site shop-17 not found")
	}))
	defer srv.Close()
	for _, tc := range []struct {
		path string
		want *Error
	}{
		{"/api", &Error{Status: 404, Code: CodeNotFound, Message: "site shop-17 not found"}},
		{"/html", &Error{Status: 502, Code: CodeInternal, Message: "GET /html: 502 Bad Gateway: <html>bad gateway</html>"}},
	} {
		resp, err := http.Get(srv.URL + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		if ct := resp.Header.Get("Content-Type"); tc.path == "/api" && ct != "application/json" {
			t.Errorf("%s: Content-Type %q", tc.path, ct)
		}
		got := ReadError(resp)
		resp.Body.Close()
		if diff := cmp.Diff(tc.want, got); diff != "" {
			t.Errorf("%s: ReadError (-want +got):\n%s", tc.path, diff)
		}
	}
	if !errors.Is(&Error{Code: CodeNotFound, Message: "x"}, ErrNotFound) || errors.Is(&Error{Code: CodeConflict}, ErrNotFound) {
		t.Error("Error.Is does not match by code")
	}
}

package serve

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestUnix(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	path := filepath.Join(dir, "api.sock")
	// A stale socket of a killed run is replaced.
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	stale, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	stale.(*net.UnixListener).SetUnlinkOnClose(false)
	stale.Close()

	l, err := Unix(path, 0o600)
	if err != nil {
		t.Fatalf("Unix: %v", err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 || fi.Mode()&os.ModeSocket == 0 {
		t.Fatalf("socket: got %v, %v; want a socket with mode 0600", fi, err)
	}
	// Nothing but the socket is left in the directory.
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("directory holds %v, want the socket only", ents)
	}
	go func() {
		if c, err := l.Accept(); err == nil {
			c.Write([]byte("hi"))
			c.Close()
		}
	}()
	c, err := net.Dial("unix", path)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	b, _ := io.ReadAll(c)
	c.Close()
	if string(b) != "hi" {
		t.Errorf("read %q", b)
	}
	l.Close()
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("after Close the socket is still there: %v", err)
	}
}

func TestTCPScope(t *testing.T) {
	for _, addr := range []string{":0", "0.0.0.0:0", "[::]:0", "192.0.2.1:80", "example.com:80"} {
		if _, err := TCP(addr, Loopback); !errors.Is(err, ErrNotLoopback) {
			t.Errorf("TCP(%q, Loopback): got %v, want ErrNotLoopback", addr, err)
		}
	}
	for _, addr := range []string{"127.0.0.1:0", "localhost:0"} {
		l, err := TCP(addr, Loopback)
		if err != nil {
			t.Errorf("TCP(%q, Loopback): %v", addr, err)
			continue
		}
		l.Close()
	}
}

// start serves h under limits on a loopback port and returns its address.
func start(t *testing.T, h http.Handler, limits Limits) string {
	t.Helper()
	l, err := TCP("127.0.0.1:0", Loopback)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- HTTP(ctx, h, limits, slog.New(slog.DiscardHandler), l) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return l.Addr().String()
}

var testLimits = Limits{
	MaxConns: 4, MaxInFlight: 2, QueueWait: 100 * time.Millisecond,
	HeaderTimeout: 300 * time.Millisecond, BodyTimeout: 300 * time.Millisecond, IdleTimeout: time.Second,
	MaxHeaderBytes: 4 << 10, ShutdownTimeout: time.Second,
}

// TestStalledBodyIsCut sends headers and half a body, then nothing: the
// handler's read must fail at BodyTimeout, not wait for ever.
func TestStalledBodyIsCut(t *testing.T) {
	readErr := make(chan error, 1)
	addr := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		readErr <- err
	}), testLimits)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\nhalf")
	select {
	case err := <-readErr:
		if ne, ok := errors.AsType[net.Error](err); !ok || !ne.Timeout() {
			t.Errorf("handler read: got %v, want a timeout", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the handler still waits for the body after 5s")
	}
}

// TestSlowHeadersAreCut opens a connection and sends half a request line:
// the server must close it at HeaderTimeout.
func TestSlowHeadersAreCut(t *testing.T) {
	addr := start(t, http.NotFoundHandler(), testLimits)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET / HT")
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	start := time.Now()
	_, err = io.ReadAll(c)
	if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
		t.Fatalf("the connection is still open after 5s")
	}
	if el := time.Since(start); el > 3*time.Second {
		t.Errorf("closed after %v, want about %v", el, testLimits.HeaderTimeout)
	}
}

// TestInFlightBound holds MaxInFlight requests in their handler: the next
// one is answered 503 busy, and a request gets through again once a
// handler calls Streaming.
func TestInFlightBound(t *testing.T) {
	hold, entered := make(chan struct{}), make(chan struct{}, 8)
	addr := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/hold":
			entered <- struct{}{}
			<-hold
		case "/stream":
			Streaming(w, r)
			entered <- struct{}{}
			<-hold
		}
		io.WriteString(w, "ok")
	}), testLimits)
	defer close(hold)
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	go get("/hold")
	<-entered
	go get("/stream")
	<-entered
	// One slot taken by /hold; /stream left its slot.
	go get("/hold")
	<-entered
	code, body := get("/quick")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, `"busy"`) {
		t.Errorf("request over the bound: got %d %s, want 503 busy", code, body)
	}
}

// TestMaxConns holds MaxConns idle connections: the next one is not served
// until one of them closes.
func TestMaxConns(t *testing.T) {
	addr := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }), testLimits)
	var held []net.Conn
	for range testLimits.MaxConns {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		// A complete request keeps the connection alive and served.
		fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		if _, err := http.ReadResponse(bufio.NewReader(c), nil); err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
	br := bufio.NewReader(c)
	if _, err := http.ReadResponse(br, nil); err == nil {
		t.Fatal("a connection over MaxConns was served")
	}
	held[0].Close()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := http.ReadResponse(br, nil); err != nil {
		t.Errorf("after a connection closed, the waiting one was not served: %v", err)
	}
	for _, h := range held[1:] {
		h.Close()
	}
}

// TestSeveralListeners serves one handler on two plain listeners: each
// must answer plain HTTP (net/http fills in a TLS config as the first
// listener starts, which must not turn the second into TLS).
func TestSeveralListeners(t *testing.T) {
	var addrs []string
	var ls []net.Listener
	for range 2 {
		l, err := TCP("127.0.0.1:0", Loopback)
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		addrs = append(addrs, l.Addr().String())
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- HTTP(ctx, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }), testLimits, slog.New(slog.DiscardHandler), ls...)
	}()
	for _, a := range addrs {
		var resp *http.Response
		var err error
		for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if resp, err = (&http.Client{Timeout: time.Second}).Get("http://" + a + "/"); err == nil {
				break
			}
		}
		if err != nil {
			t.Fatalf("GET on %s: %v", a, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != "ok" {
			t.Errorf("GET on %s: %q, want ok", a, body)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("HTTP: %v", err)
	}
}

// Package client is the Go client of the stream log's local API: topics,
// produce (plain and as an idempotent, batching Producer), read, live tail,
// cursors and status. It depends on package wire only, not on the store.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/skerry/skerry/services/contract"
	"github.com/skerry/skerry/services/httpjson"
)

// DefaultSocket is where the site's stream log listens.
const DefaultSocket = contract.StreamlogSocket

// Client talks to one stream log service.
type Client struct {
	hc    *http.Client
	base  string
	token string
}

// Option configures New.
type Option func(*Client)

// WithToken sets the bearer token sent with every request.
func WithToken(tok string) Option { return func(c *Client) { c.token = strings.TrimSpace(tok) } }

// New returns a client for addr: a unix socket path (optionally prefixed
// "unix:"), host:port for loopback TCP, or an http:// URL.
func New(addr string, opts ...Option) (*Client, error) {
	// Keep connections: producers send a request per batch, and a new unix
	// or loopback connection per batch would cost more than the batch.
	tr := &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: time.Minute}
	c := &Client{hc: &http.Client{Transport: tr}}
	switch {
	case strings.HasPrefix(addr, "http://"):
		c.base = strings.TrimSuffix(addr, "/")
	case strings.HasPrefix(addr, "unix:") || strings.HasPrefix(addr, "/") || strings.HasPrefix(addr, "."):
		path := strings.TrimPrefix(addr, "unix:")
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		}
		c.base = "http://streamlog"
	case strings.Contains(addr, ":"):
		c.base = "http://" + addr
	default:
		return nil, fmt.Errorf("parse address %q: want a socket path, host:port or http:// URL", addr)
	}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// Close releases idle connections.
func (c *Client) Close() { c.hc.CloseIdleConnections() }

func topicPath(name string) (string, error) {
	tenant, topic, ok := strings.Cut(name, "/")
	if !ok || tenant == "" || topic == "" || strings.Contains(topic, "/") {
		return "", fmt.Errorf("topic %q: want tenant/name", name)
	}
	return "/v1/topics/" + url.PathEscape(tenant) + "/" + url.PathEscape(topic), nil
}

// do sends a request and decodes a JSON answer into out (if not nil). Error
// answers come back as *wire.Error (httpjson's), which errors.Is matches
// against the wire.Err* codes.
func (c *Client) do(ctx context.Context, method, path string, hdr http.Header, body io.Reader, out any) error {
	resp, err := c.send(ctx, method, path, hdr, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("decode %s %s answer: %w", method, path, err)
	}
	return nil
}

// send returns a response with a 2xx status, or the API's error.
func (c *Client) send(ctx context.Context, method, path string, hdr http.Header, body io.Reader) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer resp.Body.Close()
	return nil, httpjson.ReadError(resp)
}

func jsonBody(v any) io.Reader {
	b, _ := json.Marshal(v)
	return bytes.NewReader(b)
}

var jsonHeader = http.Header{"Content-Type": {"application/json"}}

package agent

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/skerry/skerry/services/api/enrollapi"
)

// maxResponseBytes bounds what the agent reads of any answer.
const maxResponseBytes = 1 << 20

// requestTimeout bounds one request, so a tower that stops answering
// cannot hang the agent's loop.
const requestTimeout = 30 * time.Second

// towerClient posts JSON to the tower.
type towerClient struct {
	base string // the tower URL, without a trailing slash
	hc   *http.Client
}

// newTowerClient returns a client that trusts roots for the tower's server
// certificate and, when cert is not nil, presents it (mutual TLS).
func newTowerClient(base string, roots *x509.CertPool, cert *tls.Certificate) *towerClient {
	tc := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	if cert != nil {
		tc.Certificates = []tls.Certificate{*cert}
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = tc
	tr.Proxy = nil // a box talks to its tower directly
	return &towerClient{
		base: strings.TrimRight(base, "/"),
		hc:   &http.Client{Transport: tr, Timeout: requestTimeout},
	}
}

// post sends in as JSON to path and decodes the answer into out (unless
// out is nil). A refusal comes back as ErrTower wrapping the tower's
// *enrollapi.Error, so the caller can tell what a person must fix.
func (c *towerClient) post(ctx context.Context, path string, in, out any) (http.Header, error) {
	return c.do(ctx, http.MethodPost, path, in, out)
}

// do is post with another method; a nil in sends no body.
func (c *towerClient) do(ctx context.Context, method, path string, in, out any) (http.Header, error) {
	var body io.Reader
	if in != nil {
		data, err := json.Marshal(in)
		if err != nil {
			return nil, fmt.Errorf("encode %s: %w", path, err)
		}
		body = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return nil, fmt.Errorf("post %s: %w", path, err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", strings.ToLower(method), path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return nil, fmt.Errorf("read answer to %s: %w", path, err)
	}
	// Anything but 2xx is a refusal. A proxy or a half-started tower may
	// answer without the JSON error body; keep its text for the log.
	if resp.StatusCode/100 != 2 {
		apiErr := &enrollapi.Error{}
		if json.Unmarshal(data, apiErr) != nil || apiErr.Code == "" {
			apiErr = &enrollapi.Error{Code: enrollapi.CodeInternal, Message: strings.TrimSpace(string(data))}
		}
		return nil, fmt.Errorf("%s %s: %w (HTTP %d): %w", strings.ToLower(method), path, ErrTower, resp.StatusCode, apiErr)
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return nil, fmt.Errorf("decode answer to %s: %w", path, err)
		}
	}
	return resp.Header, nil
}

// close drops idle connections.
func (c *towerClient) close() { c.hc.CloseIdleConnections() }

// towerCode returns the tower's error code in err, or "".
func towerCode(err error) string {
	var e *enrollapi.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

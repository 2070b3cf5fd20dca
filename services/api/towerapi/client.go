package towerapi

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

// ErrCA is returned when the CA PEM given to NewClient holds no certificate.
var ErrCA = errors.New("no certificate in CA PEM")

// Client calls the operator API.
type Client struct {
	base  string
	token string
	http  *http.Client
}

// NewClient returns a client for the tower at base (https://host:port) that
// trusts caPEM (the system roots when empty) and sends token.
func NewClient(base, token string, caPEM []byte) (*Client, error) {
	tlsConf := &tls.Config{MinVersion: tls.VersionTLS12}
	if len(caPEM) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(caPEM) {
			return nil, ErrCA
		}
		tlsConf.RootCAs = pool
	}
	return &Client{
		base:  strings.TrimRight(base, "/"),
		token: token,
		http: &http.Client{
			Timeout:   30 * time.Second,
			Transport: &http.Transport{TLSClientConfig: tlsConf},
		},
	}, nil
}

// Do sends in (if not nil) as JSON and decodes the answer into out (if not
// nil). A refusal comes back as *enrollapi.Error.
func (c *Client) Do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		data, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("encode request: %w", err)
		}
		body = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return fmt.Errorf("make request: %w", err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return fmt.Errorf("read answer to %s %s: %w", method, path, err)
	}
	if resp.StatusCode >= 300 {
		e := &enrollapi.Error{}
		if json.Unmarshal(data, e) != nil || e.Code == "" {
			return fmt.Errorf("%s %s: %s", method, path, resp.Status)
		}
		return e
	}
	if out != nil && len(data) > 0 {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("decode answer to %s %s: %w", method, path, err)
		}
	}
	return nil
}

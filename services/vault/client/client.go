// Package client is the Go client of the vault's API (skerry vault, on
// contract.VaultSocket). Errors are *httpjson.Error: check them with
// errors.Is against vaultapi's and httpjson's sentinels
// (vaultapi.ErrSealed, httpjson.ErrForbidden, ...).
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
	"strconv"
	"strings"
	"time"

	"github.com/skerry/skerry/services/api/vaultapi"
	"github.com/skerry/skerry/services/contract"
	"github.com/skerry/skerry/services/httpjson"
)

// Client talks to one vault with one token.
type Client struct {
	hc     *http.Client
	token  string
	tenant string // set for the system token acting for a tenant
}

// New returns a client of the vault listening on socket (default
// contract.VaultSocket), authenticating with token.
func New(socket, token string) *Client {
	if socket == "" {
		socket = contract.VaultSocket
	}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
		MaxIdleConnsPerHost: 16,
		IdleConnTimeout:     time.Minute,
	}
	return &Client{hc: &http.Client{Transport: tr, Timeout: 30 * time.Second}, token: strings.TrimSpace(token)}
}

// ForTenant returns a client acting for tenant (with the system token).
func (c *Client) ForTenant(tenant string) *Client {
	d := *c
	d.tenant = tenant
	return &d
}

// Close releases idle connections.
func (c *Client) Close() { c.hc.CloseIdleConnections() }

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	u := "http://vault" + path
	if c.tenant != "" {
		sep := "?"
		if strings.Contains(path, "?") {
			sep = "&"
		}
		u += sep + "tenant=" + url.QueryEscape(c.tenant)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return err
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("vault %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return httpjson.ReadError(resp)
	}
	if out == nil {
		return nil
	}
	return json.NewDecoder(io.LimitReader(resp.Body, 4<<20)).Decode(out)
}

func call[T any](c *Client, ctx context.Context, method, path string, in any) (T, error) {
	var out T
	err := c.do(ctx, method, path, in, &out)
	return out, err
}

func esc(s string) string { return url.PathEscape(s) }

// Status is the vault's state.
func (c *Client) Status(ctx context.Context) (vaultapi.Status, error) {
	return call[vaultapi.Status](c, ctx, "GET", "/v1/status", nil)
}

// NewToken makes a token for tenant (system token only).
func (c *Client) NewToken(ctx context.Context, tenant string) (string, error) {
	t, err := call[vaultapi.Token](c, ctx, "POST", "/v1/tokens", vaultapi.NewToken{Tenant: tenant})
	return t.Token, err
}

// RotateMaster rotates the master key (system token only).
func (c *Client) RotateMaster(ctx context.Context) (vaultapi.Status, error) {
	return call[vaultapi.Status](c, ctx, "POST", "/v1/rotate", nil)
}

// RotateDataKey rotates tenant's data key (system token only).
func (c *Client) RotateDataKey(ctx context.Context, tenant string) error {
	return c.do(ctx, "POST", "/v1/tenants/"+esc(tenant)+"/rotate", nil, nil)
}

// PutSecret stores a new version of secret name.
func (c *Client) PutSecret(ctx context.Context, name string, value []byte) (vaultapi.Secret, error) {
	return call[vaultapi.Secret](c, ctx, "PUT", "/v1/secrets/"+esc(name), vaultapi.PutSecret{Value: value})
}

// Secret reads version (0: the latest) of secret name.
func (c *Client) Secret(ctx context.Context, name string, version int) (vaultapi.Secret, error) {
	p := "/v1/secrets/" + esc(name)
	if version > 0 {
		p += "?version=" + strconv.Itoa(version)
	}
	return call[vaultapi.Secret](c, ctx, "GET", p, nil)
}

// Secrets lists the tenant's secrets.
func (c *Client) Secrets(ctx context.Context) ([]vaultapi.SecretInfo, error) {
	l, err := call[vaultapi.SecretList](c, ctx, "GET", "/v1/secrets", nil)
	return l.Secrets, err
}

// CreateKey makes a named key of type typ (vaultapi.Key*).
func (c *Client) CreateKey(ctx context.Context, name, typ string) (vaultapi.Key, error) {
	return call[vaultapi.Key](c, ctx, "POST", "/v1/keys", vaultapi.NewKey{Name: name, Type: typ})
}

// Keys lists the tenant's keys.
func (c *Client) Keys(ctx context.Context) ([]vaultapi.Key, error) {
	l, err := call[vaultapi.KeyList](c, ctx, "GET", "/v1/keys", nil)
	return l.Keys, err
}

// Key describes key name, with signing keys' public halves.
func (c *Client) Key(ctx context.Context, name string) (vaultapi.Key, error) {
	return call[vaultapi.Key](c, ctx, "GET", "/v1/keys/"+esc(name), nil)
}

// RotateKey adds a version to key name.
func (c *Client) RotateKey(ctx context.Context, name string) (vaultapi.Key, error) {
	return call[vaultapi.Key](c, ctx, "POST", "/v1/keys/"+esc(name)+"/rotate", nil)
}

// Encrypt encrypts plain with key name, binding context.
func (c *Client) Encrypt(ctx context.Context, name string, plain, context []byte) (vaultapi.Ciphertext, error) {
	return call[vaultapi.Ciphertext](c, ctx, "POST", "/v1/keys/"+esc(name)+"/encrypt", vaultapi.Encrypt{Plaintext: plain, Context: context})
}

// Decrypt opens a ciphertext of Encrypt.
func (c *Client) Decrypt(ctx context.Context, name, ct string, context []byte) ([]byte, error) {
	p, err := call[vaultapi.Plaintext](c, ctx, "POST", "/v1/keys/"+esc(name)+"/decrypt", vaultapi.Decrypt{Ciphertext: ct, Context: context})
	return p.Plaintext, err
}

// Rewrap re-encrypts ct under key name's latest version.
func (c *Client) Rewrap(ctx context.Context, name, ct string, context []byte) (vaultapi.Ciphertext, error) {
	return call[vaultapi.Ciphertext](c, ctx, "POST", "/v1/keys/"+esc(name)+"/rewrap", vaultapi.Decrypt{Ciphertext: ct, Context: context})
}

// FPEEncrypt encrypts req.Value with FF1 key name.
func (c *Client) FPEEncrypt(ctx context.Context, name string, req vaultapi.FPE) (vaultapi.FPEResult, error) {
	return call[vaultapi.FPEResult](c, ctx, "POST", "/v1/keys/"+esc(name)+"/fpe/encrypt", req)
}

// FPEDecrypt reverses FPEEncrypt; req.Version must be set.
func (c *Client) FPEDecrypt(ctx context.Context, name string, req vaultapi.FPE) (vaultapi.FPEResult, error) {
	return call[vaultapi.FPEResult](c, ctx, "POST", "/v1/keys/"+esc(name)+"/fpe/decrypt", req)
}

// Sign signs msg with key name.
func (c *Client) Sign(ctx context.Context, name string, msg []byte) (vaultapi.Signature, error) {
	return call[vaultapi.Signature](c, ctx, "POST", "/v1/keys/"+esc(name)+"/sign", vaultapi.Sign{Message: msg})
}

// Verify checks a signature of Sign.
func (c *Client) Verify(ctx context.Context, name string, msg []byte, sig vaultapi.Signature) (bool, error) {
	v, err := call[vaultapi.Verified](c, ctx, "POST", "/v1/keys/"+esc(name)+"/verify",
		vaultapi.Verify{Message: msg, Signature: sig.Signature, Version: sig.Version})
	return v.Valid, err
}

// Mask masks a value.
func (c *Client) Mask(ctx context.Context, req vaultapi.Mask) (string, error) {
	m, err := call[vaultapi.Masked](c, ctx, "POST", "/v1/mask", req)
	return m.Value, err
}

// SetAppFiles has the vault write the tenant's secrets for app as files
// owned by f.UID:f.GID (system token, with ForTenant); it returns the
// directory to mount read-only into the app's containers.
func (c *Client) SetAppFiles(ctx context.Context, app string, f vaultapi.AppFiles) (string, error) {
	d, err := call[vaultapi.AppFilesDir](c, ctx, "PUT", "/v1/apps/"+esc(app)+"/files", f)
	return d.Dir, err
}

// RemoveAppFiles has the vault remove the tenant's secret files of app
// and forget them (system token, with ForTenant): the app is gone.
func (c *Client) RemoveAppFiles(ctx context.Context, app string) error {
	return c.do(ctx, "DELETE", "/v1/apps/"+esc(app)+"/files", nil, nil)
}

// RevokeTokens removes every token of tenant (system token only).
func (c *Client) RevokeTokens(ctx context.Context, tenant string) (int, error) {
	r, err := call[vaultapi.Revoked](c, ctx, "DELETE", "/v1/tenants/"+esc(tenant)+"/tokens", nil)
	return r.Tokens, err
}

// SiteKey is the public half of the vault's site key pair (no token
// needed), which the agent reports to the tower.
func (c *Client) SiteKey(ctx context.Context) (vaultapi.SiteKey, error) {
	return call[vaultapi.SiteKey](c, ctx, "GET", "/v1/site-key", nil)
}

// PutSiteSecrets hands the tower's secrets for this site to the vault
// (system token only).
func (c *Client) PutSiteSecrets(ctx context.Context, s vaultapi.SiteSecrets) (vaultapi.SiteSecretsResult, error) {
	return call[vaultapi.SiteSecretsResult](c, ctx, "PUT", "/v1/site-secrets", s)
}

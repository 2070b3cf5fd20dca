package vault

import (
	"cmp"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/skerry/skerry/services/api/vaultapi"
	"github.com/skerry/skerry/services/httpjson"
)

// maxBody bounds request bodies: a secret or plaintext, base64, and JSON.
const maxBody = 2*MaxPlaintext + 4096

// who may call a route.
type access int

const (
	anyone     access = iota // no token: status only
	systemOnly               // the system token
	tenantOf                 // a tenant token, or the system token with ?tenant=
)

type route struct {
	pattern string
	action  string // audit action
	access  access
	h       func(v *Vault, r *http.Request, c *call) (any, error)
}

// call is what a handler knows about its request.
type call struct {
	p      Principal
	tenant string
}

// routes is the vault's whole API.
var routes = []route{
	{"GET /v1/status", "status", anyone, func(v *Vault, r *http.Request, c *call) (any, error) { return v.Status(), nil }},
	{"POST /v1/tokens", "token.create", systemOnly, createToken},
	{"DELETE /v1/tenants/{tenant}/tokens", "token.revoke", systemOnly, func(v *Vault, r *http.Request, c *call) (any, error) {
		n, err := v.Auth.RevokeTenant(c.tenant)
		return vaultapi.Revoked{Tokens: n}, err
	}},
	{"POST /v1/rotate", "master.rotate", systemOnly, func(v *Vault, r *http.Request, c *call) (any, error) { return v.RotateMaster() }},
	{"POST /v1/tenants/{tenant}/rotate", "datakey.rotate", systemOnly, rotateDataKey},
	{"GET /v1/secrets", "secret.list", tenantOf, func(v *Vault, r *http.Request, c *call) (any, error) {
		l, err := v.Store.Secrets(c.tenant)
		return vaultapi.SecretList{Secrets: l}, err
	}},
	{"PUT /v1/secrets/{name}", "secret.put", tenantOf, putSecret},
	{"GET /v1/secrets/{name}", "secret.get", tenantOf, getSecret},
	{"GET /v1/keys", "key.list", tenantOf, func(v *Vault, r *http.Request, c *call) (any, error) {
		l, err := v.Store.Keys(c.tenant)
		return vaultapi.KeyList{Keys: l}, err
	}},
	{"POST /v1/keys", "key.create", tenantOf, createKey},
	{"GET /v1/keys/{name}", "key.get", tenantOf, func(v *Vault, r *http.Request, c *call) (any, error) {
		return v.Store.Key(c.tenant, r.PathValue("name"))
	}},
	{"POST /v1/keys/{name}/rotate", "key.rotate", tenantOf, func(v *Vault, r *http.Request, c *call) (any, error) {
		return v.Store.RotateKey(c.tenant, r.PathValue("name"))
	}},
	{"POST /v1/keys/{name}/encrypt", "key.encrypt", tenantOf, encrypt},
	{"POST /v1/keys/{name}/decrypt", "key.decrypt", tenantOf, decrypt},
	{"POST /v1/keys/{name}/rewrap", "key.rewrap", tenantOf, rewrap},
	{"POST /v1/keys/{name}/fpe/encrypt", "key.fpe_encrypt", tenantOf, fpe(true)},
	{"POST /v1/keys/{name}/fpe/decrypt", "key.fpe_decrypt", tenantOf, fpe(false)},
	{"POST /v1/keys/{name}/sign", "key.sign", tenantOf, sign},
	{"POST /v1/keys/{name}/verify", "key.verify", tenantOf, verify},
	{"POST /v1/mask", "mask", tenantOf, mask},
	{"PUT /v1/apps/{app}/files", "files.set", systemOnly, setAppFiles},
	{"DELETE /v1/apps/{app}/files", "files.remove", systemOnly, removeAppFiles},
	{"POST /v1/escrow", "master.escrow", systemOnly, escrowHandler},
	{"POST /v1/unseal", "master.remote_unseal", systemOnly, remoteUnsealHandler},
	{"GET /v1/site-key", "sitekey.get", anyone, getSiteKey},
	{"PUT /v1/site-secrets", "sitesecrets.put", systemOnly, putSiteSecrets},
}

// Handler is the vault's HTTP API.
func (v *Vault) Handler() http.Handler {
	mux := http.NewServeMux()
	for _, rt := range routes {
		mux.HandleFunc(rt.pattern, func(w http.ResponseWriter, r *http.Request) { v.serve(w, r, rt) })
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		httpjson.WriteError(w, http.StatusNotFound, httpjson.CodeNotFound,
			"no vault endpoint "+r.Method+" "+r.URL.Path+": see services/vault/README.md")
	})
	return mux
}

func (v *Vault) serve(w http.ResponseWriter, r *http.Request, rt route) {
	c := &call{}
	out, err := v.authorize(r, rt, c)
	if err == nil {
		out, err = rt.h(v, r, c)
	}
	status, code, msg := errorStatus(err)
	if rt.access != anyone {
		object := ""
		if n := cmp.Or(r.PathValue("name"), r.PathValue("app")); n != "" {
			kind, _, _ := strings.Cut(rt.action, ".")
			object = kind + "/" + n
		}
		who := c.p.String()
		if !c.p.System && c.p.Tenant == "" {
			who = "anonymous"
		}
		outcome := code
		if err == nil {
			outcome = "ok"
		}
		v.audit.Record(Event{Time: time.Now().UTC(), Who: who, Tenant: c.tenant, Action: rt.action, Object: object,
			Allowed: err == nil || (code != httpjson.CodeUnauthenticated && code != httpjson.CodeForbidden), Outcome: outcome})
	}
	if err != nil {
		if status == http.StatusInternalServerError {
			v.log.Error("request failed", "action", rt.action, "err", err)
		}
		httpjson.WriteError(w, status, code, msg)
		return
	}
	httpjson.Write(w, http.StatusOK, out)
}

// authorize resolves the principal and the tenant a request acts for.
func (v *Vault) authorize(r *http.Request, rt route, c *call) (any, error) {
	if rt.access == anyone {
		return nil, nil
	}
	p, ok := v.Auth.Check(r)
	if !ok {
		return nil, errUnauthenticated
	}
	c.p = p
	q := r.URL.Query().Get("tenant")
	switch {
	case rt.access == systemOnly && !p.System:
		return nil, errSystemOnly
	case rt.access == systemOnly:
		c.tenant = cmp.Or(r.PathValue("tenant"), q)
	case p.System && q == "":
		return nil, errNeedTenant
	case p.System:
		c.tenant = q
	case q != "" && q != p.Tenant:
		c.tenant = q
		return nil, errOtherTenant
	default:
		c.tenant = p.Tenant
	}
	if c.tenant != "" {
		return nil, ValidTenant(c.tenant)
	}
	return nil, nil
}

var (
	errUnauthenticated = &httpjson.Error{Status: http.StatusUnauthorized, Code: httpjson.CodeUnauthenticated,
		Message: "missing or unknown token: send Authorization: Bearer <token> (skerryctl site vault token <tenant> makes one)"}
	errSystemOnly = &httpjson.Error{Status: http.StatusForbidden, Code: httpjson.CodeForbidden,
		Message: "only the system token may do this"}
	errNeedTenant = &httpjson.Error{Status: http.StatusBadRequest, Code: httpjson.CodeBadRequest,
		Message: "the system token must name the tenant it acts for: add ?tenant=<name>"}
	errOtherTenant = &httpjson.Error{Status: http.StatusForbidden, Code: httpjson.CodeForbidden,
		Message: "this token is for another tenant"}
)

// errorTable maps the vault's errors to answers; the first match wins.
var errorTable = []struct {
	err    error
	status int
	code   string
}{
	{ErrSealed, http.StatusServiceUnavailable, vaultapi.CodeSealed},
	{ErrNotFound, http.StatusNotFound, httpjson.CodeNotFound},
	{ErrExists, http.StatusConflict, httpjson.CodeConflict},
	{ErrInvalid, http.StatusBadRequest, httpjson.CodeBadRequest},
	{ErrWrongKeyType, http.StatusBadRequest, vaultapi.CodeWrongKeyType},
	{ErrDecrypt, http.StatusBadRequest, vaultapi.CodeDecrypt},
}

func errorStatus(err error) (int, string, string) {
	if err == nil {
		return http.StatusOK, "", ""
	}
	if he, ok := errors.AsType[*httpjson.Error](err); ok {
		return cmp.Or(he.Status, http.StatusBadRequest), he.Code, he.Message
	}
	for _, e := range errorTable {
		if errors.Is(err, e.err) {
			msg := err.Error()
			if e.err == ErrSealed {
				msg = "the vault is sealed: GET /v1/status says why"
			}
			return e.status, e.code, msg
		}
	}
	return http.StatusInternalServerError, httpjson.CodeInternal, "internal error: the vault's log has the cause"
}

func decode[T any](r *http.Request) (T, error) {
	var v T
	err := httpjson.Decode(nil, r, maxBody, &v)
	return v, err
}

func createToken(v *Vault, r *http.Request, c *call) (any, error) {
	req, err := decode[vaultapi.NewToken](r)
	if err != nil {
		return nil, err
	}
	c.tenant = req.Tenant
	tok, err := v.Auth.NewTenantToken(req.Tenant)
	return vaultapi.Token{Tenant: req.Tenant, Token: tok}, err
}

func rotateDataKey(v *Vault, r *http.Request, c *call) (any, error) {
	n, err := v.Store.RotateDataKey(c.tenant)
	return map[string]int{"dataKeyVersion": n}, err
}

func putSecret(v *Vault, r *http.Request, c *call) (any, error) {
	req, err := decode[vaultapi.PutSecret](r)
	if err != nil {
		return nil, err
	}
	s, err := v.Store.PutSecret(c.tenant, r.PathValue("name"), req.Value)
	if err == nil {
		// The secret is stored; a file that could not be rewritten is
		// the runner's problem to see, not a failed write.
		if ferr := v.refreshFiles(c.tenant, s.Name); ferr != nil {
			v.log.Error("rewrite secret files", "tenant", c.tenant, "secret", s.Name, "err", ferr)
		}
	}
	return s, err
}

func setAppFiles(v *Vault, r *http.Request, c *call) (any, error) {
	if c.tenant == "" {
		return nil, errNeedTenant
	}
	if err := ValidTenant(c.tenant); err != nil {
		return nil, err
	}
	req, err := decode[vaultapi.AppFiles](r)
	if err != nil {
		return nil, err
	}
	dir, err := v.SetAppFiles(c.tenant, r.PathValue("app"), req)
	return vaultapi.AppFilesDir{Dir: dir}, err
}

func removeAppFiles(v *Vault, r *http.Request, c *call) (any, error) {
	if c.tenant == "" {
		return nil, errNeedTenant
	}
	if err := ValidTenant(c.tenant); err != nil {
		return nil, err
	}
	return struct{}{}, v.RemoveAppFiles(c.tenant, r.PathValue("app"))
}

func getSecret(v *Vault, r *http.Request, c *call) (any, error) {
	ver := 0
	if q := r.URL.Query().Get("version"); q != "" {
		n, err := strconv.Atoi(q)
		if err != nil || n < 1 {
			return nil, invalidf("version %q: want a number from 1", q)
		}
		ver = n
	}
	return v.Store.Secret(c.tenant, r.PathValue("name"), ver)
}

func createKey(v *Vault, r *http.Request, c *call) (any, error) {
	req, err := decode[vaultapi.NewKey](r)
	if err != nil {
		return nil, err
	}
	return v.Store.CreateKey(c.tenant, req.Name, req.Type)
}

func encrypt(v *Vault, r *http.Request, c *call) (any, error) {
	req, err := decode[vaultapi.Encrypt](r)
	if err != nil {
		return nil, err
	}
	return v.Store.Encrypt(c.tenant, r.PathValue("name"), req.Plaintext, req.Context)
}

func decrypt(v *Vault, r *http.Request, c *call) (any, error) {
	req, err := decode[vaultapi.Decrypt](r)
	if err != nil {
		return nil, err
	}
	return v.Store.Decrypt(c.tenant, r.PathValue("name"), req.Ciphertext, req.Context)
}

func rewrap(v *Vault, r *http.Request, c *call) (any, error) {
	req, err := decode[vaultapi.Decrypt](r)
	if err != nil {
		return nil, err
	}
	return v.Store.Rewrap(c.tenant, r.PathValue("name"), req.Ciphertext, req.Context)
}

func fpe(enc bool) func(v *Vault, r *http.Request, c *call) (any, error) {
	return func(v *Vault, r *http.Request, c *call) (any, error) {
		req, err := decode[vaultapi.FPE](r)
		if err != nil {
			return nil, err
		}
		return v.Store.FPE(c.tenant, r.PathValue("name"), req, enc)
	}
}

func sign(v *Vault, r *http.Request, c *call) (any, error) {
	req, err := decode[vaultapi.Sign](r)
	if err != nil {
		return nil, err
	}
	return v.Store.Sign(c.tenant, r.PathValue("name"), req.Message)
}

func verify(v *Vault, r *http.Request, c *call) (any, error) {
	req, err := decode[vaultapi.Verify](r)
	if err != nil {
		return nil, err
	}
	ok, err := v.Store.Verify(c.tenant, r.PathValue("name"), req.Message, req.Signature, req.Version)
	return vaultapi.Verified{Valid: ok}, err
}

func mask(v *Vault, r *http.Request, c *call) (any, error) {
	req, err := decode[vaultapi.Mask](r)
	if err != nil {
		return nil, err
	}
	if len(req.Value) > MaxPlaintext {
		return nil, invalidf("mask: value longer than %d bytes", MaxPlaintext)
	}
	out, err := v.Store.Mask(c.tenant, req)
	return vaultapi.Masked{Value: out}, err
}

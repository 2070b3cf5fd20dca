package main

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/skerry/skerry/services/vault/vaulttest"
)

func TestVaultCommands(t *testing.T) {
	_, sock, tokenFile := vaulttest.Start(t, "")

	sys := []string{"-socket", sock, "-token-file", tokenFile}
	run := func(stdin string, args ...string) (string, error) {
		var out bytes.Buffer
		err := runVaultIO(t.Context(), strings.NewReader(stdin), &out, io.Discard, append(append([]string{}, sys...), args...))
		return out.String(), err
	}
	if out, err := run("", "status"); err != nil || !strings.Contains(out, `"state": "unsealed"`) {
		t.Fatalf("status: %q, %v", out, err)
	}
	tok, err := run("", "token", "acme")
	if err != nil || !strings.HasPrefix(tok, "skv_acme_") {
		t.Fatalf("token: %q, %v", tok, err)
	}
	t.Setenv("SKERRY_VAULT_TOKEN", strings.TrimSpace(tok))
	if _, err := run("s3cret", "put", "db"); err != nil {
		t.Fatal(err)
	}
	if _, err := run("", "key", "pii", "aes256-gcm"); err != nil {
		t.Fatal(err)
	}
	if out, err := run("", "get", "db"); err != nil || out != "s3cret" {
		t.Errorf("get: %q, %v", out, err)
	}
	out, err := run("", "list")
	if err != nil || !strings.Contains(out, "secret db") || !strings.Contains(out, "key    pii") {
		t.Errorf("list: %q, %v", out, err)
	}
	if _, err := run("", "-tenant", "beta", "get", "db"); err == nil || !strings.Contains(err.Error(), "another tenant") {
		t.Errorf("acme's token asking for beta: got %v, want a refusal", err)
	}
}

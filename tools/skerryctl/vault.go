package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"

	"github.com/skerry/skerry/services/contract"
	"github.com/skerry/skerry/services/vault"
	"github.com/skerry/skerry/services/vault/client"
)

// vaultCommands are the "skerryctl site vault" subcommands.
var vaultCommands = []struct {
	name, summary string
	run           func(ctx context.Context, vc *vaultCtx, args []string) error
}{
	{"status", "print the vault's state (sealed or not, why, which PCRs changed)", vaultStatus},
	{"token", "create a tenant token (system token only): token tenant", vaultToken},
	{"revoke", "remove every token of a tenant (system token only): revoke tenant", vaultRevoke},
	{"rotate", "rotate the master key and reseal it to the current PCRs (system token only)", vaultRotate},
	{"rotate-datakey", "rotate a tenant's data key (system token only): rotate-datakey tenant", vaultRotateDK},
	{"put", "store stdin as the next version of a secret: put name", vaultPut},
	{"get", "print a secret's value: get [-version N] name", vaultGet},
	{"list", "list secrets and keys", vaultList},
	{"key", "create a named key: key name aes256-gcm|ff1-aes256|ed25519|ecdsa-p256", vaultKey},
}

type vaultCtx struct {
	c      *client.Client
	stdin  io.Reader
	stdout io.Writer
}

func runVault(ctx context.Context, stdout, stderr io.Writer, args []string) error {
	return runVaultIO(ctx, os.Stdin, stdout, stderr, args)
}

// runVaultIO is runVault with its standard input passed in, for tests.
func runVaultIO(ctx context.Context, stdin io.Reader, stdout, stderr io.Writer, args []string) error {
	fs := flag.NewFlagSet("vault", flag.ContinueOnError)
	fs.SetOutput(stderr)
	sock := fs.String("socket", envOr("SKERRY_VAULT_SOCKET", contract.VaultSocket), "vault API socket ($SKERRY_VAULT_SOCKET)")
	tokenFile := fs.String("token-file", filepath.Join(contract.Home("vault"), vault.SystemTokenFile), "file holding the API token ($SKERRY_VAULT_TOKEN overrides it)")
	tenant := fs.String("tenant", "", "the tenant the system token acts for (secrets and keys)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: skerryctl site vault [-socket S] [-token-file F] [-tenant T] <command> [args]\n\ncommands:")
		for _, c := range vaultCommands {
			fmt.Fprintf(stderr, "  %-15s %s\n", c.name, c.summary)
		}
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return flag.ErrHelp
	}
	tok := os.Getenv("SKERRY_VAULT_TOKEN")
	if tok == "" && fs.Arg(0) != "status" {
		b, err := os.ReadFile(*tokenFile)
		if err != nil {
			return fmt.Errorf("read token: %w (set $SKERRY_VAULT_TOKEN or -token-file)", err)
		}
		tok = string(b)
	}
	c := client.New(*sock, tok)
	defer c.Close()
	if *tenant != "" {
		c = c.ForTenant(*tenant)
	}
	vc := &vaultCtx{c: c, stdin: stdin, stdout: stdout}
	for _, cmd := range vaultCommands {
		if cmd.name == fs.Arg(0) {
			return cmd.run(ctx, vc, fs.Args()[1:])
		}
	}
	fs.Usage()
	return fmt.Errorf("unknown vault command %q", fs.Arg(0))
}

func (vc *vaultCtx) print(v any, err error) error {
	if err != nil {
		return err
	}
	enc := json.NewEncoder(vc.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func oneArg(args []string, what string) (string, error) {
	if len(args) != 1 {
		return "", fmt.Errorf("want one argument: %s", what)
	}
	return args[0], nil
}

func vaultStatus(ctx context.Context, vc *vaultCtx, args []string) error {
	return vc.print(vc.c.Status(ctx))
}

func vaultToken(ctx context.Context, vc *vaultCtx, args []string) error {
	t, err := oneArg(args, "the tenant")
	if err != nil {
		return err
	}
	tok, err := vc.c.NewToken(ctx, t)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(vc.stdout, tok)
	return err
}

func vaultRotate(ctx context.Context, vc *vaultCtx, args []string) error {
	return vc.print(vc.c.RotateMaster(ctx))
}

func vaultRotateDK(ctx context.Context, vc *vaultCtx, args []string) error {
	t, err := oneArg(args, "the tenant")
	if err != nil {
		return err
	}
	return vc.c.RotateDataKey(ctx, t)
}

func vaultPut(ctx context.Context, vc *vaultCtx, args []string) error {
	name, err := oneArg(args, "the secret's name; the value comes on stdin")
	if err != nil {
		return err
	}
	val, err := io.ReadAll(io.LimitReader(vc.stdin, vault.MaxSecret+1))
	if err != nil {
		return err
	}
	if len(val) > vault.MaxSecret {
		return fmt.Errorf("secret on stdin is larger than %d bytes", vault.MaxSecret)
	}
	return vc.print(vc.c.PutSecret(ctx, name, val))
}

func vaultGet(ctx context.Context, vc *vaultCtx, args []string) error {
	fs := flag.NewFlagSet("get", flag.ContinueOnError)
	ver := fs.Int("version", 0, "version (default: the latest)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	name, err := oneArg(fs.Args(), "the secret's name")
	if err != nil {
		return err
	}
	s, err := vc.c.Secret(ctx, name, *ver)
	if err != nil {
		return err
	}
	_, err = vc.stdout.Write(s.Value)
	return err
}

func vaultList(ctx context.Context, vc *vaultCtx, args []string) error {
	secrets, err := vc.c.Secrets(ctx)
	if err != nil {
		return err
	}
	keys, err := vc.c.Keys(ctx)
	if err != nil {
		return err
	}
	for _, s := range secrets {
		fmt.Fprintf(vc.stdout, "secret %-30s v%s\n", s.Name, strconv.Itoa(s.Latest))
	}
	for _, k := range keys {
		fmt.Fprintf(vc.stdout, "key    %-30s v%d %s\n", k.Name, k.Latest, k.Type)
	}
	return nil
}

func vaultKey(ctx context.Context, vc *vaultCtx, args []string) error {
	if len(args) != 2 {
		return errors.New("want two arguments: the key's name and type")
	}
	return vc.print(vc.c.CreateKey(ctx, args[0], args[1]))
}

func vaultRevoke(ctx context.Context, vc *vaultCtx, args []string) error {
	t, err := oneArg(args, "the tenant")
	if err != nil {
		return err
	}
	n, err := vc.c.RevokeTokens(ctx, t)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(vc.stdout, "revoked %d token(s) of %s\n", n, t)
	return err
}

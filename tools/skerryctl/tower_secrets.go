package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/skerry/skerry/services/api/towerapi"
)

// secretCommands are the "skerryctl tower secrets" subcommands: tenants'
// secrets set at the tower for the sites a selector matches. A value is
// read from a file or piped on stdin, never from the command line (it
// would sit in the shell's history and the process list) and never
// printed.
var secretCommands = []towerCmd{
	{"set", "set [-f FILE] [-selector k=v]... TENANT/NAME   store a new version (value from FILE, or piped on stdin)", secretsSet},
	{"list", "list -tenant T                          list a tenant's secrets (never their values)", secretsList},
	{"delete", "delete TENANT/NAME                      delete a secret; its sites delete it", secretsDelete},
	{"rotate-key", "rotate-key                              rotate the tower's secrets.key, sealing every stored secret again (operator)", secretsRotateKey},
}

// maxSecretBytes is the tower's bound (tower.MaxSecretBytes), checked
// here too so a large file is refused before it travels.
const maxSecretBytes = 32 << 10

// secretStdin is where "set" reads a value without -f; tests replace it.
var secretStdin io.Reader = os.Stdin

// runTowerSecrets runs "skerryctl tower secrets ...".
func runTowerSecrets(ctx context.Context, stdout, stderr io.Writer, args []string) error {
	return runTowerGroup(ctx, stdout, stderr, "secrets", secretCommands, args)
}

func showSecrets(tc *towerCtx, v any, ss ...towerapi.Secret) error {
	return tc.show(v, "TENANT\tNAME\tVERSION\tSELECTOR\tSET\tBY", func(w io.Writer) {
		for _, s := range ss {
			sel := labelsString(s.Selector)
			if sel == "" {
				sel = "(every site)"
			}
			fmt.Fprintf(w, "%s\t%s\t%d\t%s\t%s\t%s\n", s.Tenant, s.Name, s.Version, sel, s.CreatedAt.Format(time.RFC3339), s.CreatedBy)
		}
	})
}

func secretsSet(ctx context.Context, tc *towerCtx, args []string) error {
	fs := tc.flags()
	in := towerapi.SecretSet{Selector: map[string]string{}}
	file := fs.String("f", "", "read the value from this file (default: stdin, which must be a pipe or a file)")
	fs.Var(labelFlag(in.Selector), "selector", "site label `key=value` the sites must have (repeatable; none: every site of the tenant)")
	pos, err := tc.parse(fs, args, 1, "TENANT/NAME")
	if err != nil {
		return err
	}
	path, err := appPath(pos[0], "secrets")
	if err != nil {
		return err
	}
	if in.Value, err = readSecretValue(*file); err != nil {
		return fmt.Errorf("%s: %w", tc.cmd, err)
	}
	var s towerapi.Secret
	err = tc.c.Do(ctx, "PUT", path, in, &s)
	clear(in.Value)
	if err != nil {
		return err
	}
	return showSecrets(tc, s, s)
}

// readSecretValue reads a value from file, or from stdin when file is
// empty. A terminal on stdin is refused: what is typed there is echoed.
func readSecretValue(file string) ([]byte, error) {
	r := secretStdin
	from := "stdin"
	if file != "" {
		f, err := os.Open(file)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r, from = f, file
	} else if f, ok := r.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			return nil, errors.New("stdin is a terminal, which would echo the value: pipe it in or give -f FILE")
		}
	}
	v, err := io.ReadAll(io.LimitReader(r, maxSecretBytes+1))
	switch {
	case err != nil:
		return nil, fmt.Errorf("read the value from %s: %w", from, err)
	case len(v) == 0:
		return nil, fmt.Errorf("the value from %s is empty", from)
	case len(v) > maxSecretBytes:
		return nil, fmt.Errorf("the value from %s is over %d bytes", from, maxSecretBytes)
	}
	return v, nil
}

func secretsList(ctx context.Context, tc *towerCtx, args []string) error {
	ss, err := listOfTenant[towerapi.Secret](ctx, tc, args, "secrets")
	if err != nil {
		return err
	}
	return showSecrets(tc, ss, ss...)
}

func secretsDelete(ctx context.Context, tc *towerCtx, args []string) error {
	pos, err := tc.parse(tc.flags(), args, 1, "TENANT/NAME")
	if err != nil {
		return err
	}
	path, err := appPath(pos[0], "secrets")
	if err != nil {
		return err
	}
	if err := tc.c.Do(ctx, "DELETE", path, nil, nil); err != nil {
		return err
	}
	fmt.Fprintf(tc.stdout, "deleted secret %s\n", pos[0])
	return nil
}

func secretsRotateKey(ctx context.Context, tc *towerCtx, args []string) error {
	if _, err := tc.parse(tc.flags(), args, 0, "no arguments"); err != nil {
		return err
	}
	var r towerapi.SecretKeyRotated
	if err := tc.c.Do(ctx, "POST", "/v1/secret-key/rotate", nil, &r); err != nil {
		return err
	}
	return tc.show(r, "KEY ID\tSECRETS SEALED AGAIN", func(w io.Writer) {
		fmt.Fprintf(w, "%s\t%d\n", r.KeyID, r.Resealed)
	})
}

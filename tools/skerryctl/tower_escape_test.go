package main

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/skerry/skerry/services/tower/store"
)

func TestEscape(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"plain", "plain"},
		{"Café 東京\tx\n", "Café 東京\tx\n"},
		{"\x1b[31mred", `\u001b[31mred`},
		{"a\x00b", `a\u0000b`},
		{"abc\u202edcba", `abc\u202edcba`},
		{"a\u009bb", `a\u009bb`},
		{"a\xffb", `a\xffb`},
	} {
		if got := escape(tc.in); got != tc.want {
			t.Errorf("escape(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// A tower that holds text with control characters (an older one, or a
// record written behind the API's back) never gets them to the terminal,
// in tables, JSON or errors.
func TestTowerOutputEscaped(t *testing.T) {
	tw, cli, try := towerCLI(t)
	evil := "\x1b[2J\x1b[31mevil\u202e\x00"
	err := tw.Store.Update(context.Background(), func(tx store.Tx) error {
		return tx.PutTenant(store.Tenant{ID: "evil", Name: evil})
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"tenants", "list"}, {"tenants", "list", "-o", "json"}} {
		out := cli(args...)
		if !strings.Contains(out, "evil") {
			t.Errorf("skerryctl %v: %q does not show the tenant", args, out)
		}
		if strings.ContainsAny(out, "\x1b\x00\u202e") {
			t.Errorf("skerryctl %v printed raw control characters: %q", args, out)
		}
	}
	_ = try
	if e := escapeErr(errors.New("tower said \x1b[31m")); strings.Contains(e.Error(), "\x1b") {
		t.Errorf("escapeErr: %q holds ESC", e.Error())
	}
}

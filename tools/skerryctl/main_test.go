package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// TestCommandTree checks that the tower's and the site's commands live
// under their own words, and that the old top-level names say where they
// went.
func TestCommandTree(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"tenants", "list"}, `it is "skerryctl tower tenants" now`},
		{[]string{"log", "topics"}, `it is "skerryctl site log" now`},
		{[]string{"tower", "nope"}, `unknown command "nope" of skerryctl tower`},
		{[]string{"site", "nope"}, `unknown command "nope" of skerryctl site`},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
	} {
		var out bytes.Buffer
		err := run(context.Background(), &out, &out, tc.args)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("skerryctl %s: got %v, want an error containing %q", strings.Join(tc.args, " "), err, tc.want)
		}
	}
	var out bytes.Buffer
	run(context.Background(), &out, &out, []string{"site", "help"})
	for _, want := range []string{"log", "vault", "apps"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("skerryctl site help lacks %q:\n%s", want, out.String())
		}
	}
}

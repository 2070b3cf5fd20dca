package vault

import (
	"regexp"
	"strings"
	"testing"
)

// FuzzNames: the hand-written name checks accept exactly what the
// regular expressions of the README's rules accept.
func FuzzNames(f *testing.F) {
	tenantRE := regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)
	nameRE := regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)
	for _, s := range []string{"", "acme", "a", "-a", "_site", "Acme", "a.b", "db-password", "x/y", "a\n",
		strings.Repeat("a", 32), strings.Repeat("a", 33), strings.Repeat("b", 128), strings.Repeat("b", 129), "é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := ValidTenant(s) == nil, tenantRE.MatchString(s); got != want {
			t.Errorf("tenant %q: valid %v, the rule says %v", s, got, want)
		}
		if got, want := validName("secret", s) == nil, nameRE.MatchString(s); got != want {
			t.Errorf("name %q: valid %v, the rule says %v", s, got, want)
		}
	})
}

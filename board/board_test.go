package board

import (
	"strings"
	"testing"
)

func TestAllBoardsParse(t *testing.T) {
	names := Names()
	if len(names) < 2 {
		t.Fatalf("Names() = %v, want at least the two QEMU boards", names)
	}
	for _, n := range names {
		b, err := Lookup(n)
		if err != nil {
			t.Errorf("Lookup(%q): %v", n, err)
			continue
		}
		if len(b.Kernel.Modules) == 0 {
			t.Errorf("board %s loads no modules", n)
		}
	}
}

func TestUnknownBoardListsKnown(t *testing.T) {
	_, err := Lookup("raspberry-pi-9")
	if err == nil {
		t.Fatal("Lookup of an unknown board succeeded")
	}
	for _, want := range []string{`"raspberry-pi-9"`, "qemu-x86_64", "qemu-arm64"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
	if _, err := Lookup("../board"); err == nil {
		t.Error("Lookup accepted a path")
	}
}

func TestParseRejects(t *testing.T) {
	for _, tc := range []struct{ name, json, want string }{
		{"x", `{"version": 2}`, "version 2 is not supported"},
		{"x", `{"version": 1, "name": "y"}`, "does not match"},
		{"x", `{"version": 1, "name": "x", "arch": "mips"}`, `arch "mips"`},
		{"x", `{"version": 1, "nmae": "x"}`, "unknown field"},
		{"x", `{"version": 1, "name": "x", "arch": "amd64", "kernel": {"package": "k"}, "console": "c", "efi": {"loader": "l", "removablePath": "r"}, "disk": {"espMiB": 64, "permMiB": 64}}`, "vault.pcrs is empty"},
		{"x", `{"version": 1, "name": "x", "arch": "amd64", "kernel": {"package": "k"}, "console": "c", "efi": {"loader": "l", "removablePath": "r"}, "disk": {"espMiB": 64, "permMiB": 64}, "vault": {"pcrs": [4, 0]}}`, "want ascending"},
		{"x", `{"version": 1, "name": "x", "arch": "amd64", "kernel": {"package": "k"}, "console": "c", "efi": {"loader": "l", "removablePath": "r"}, "disk": {"espMiB": 64, "permMiB": 64}, "vault": {"pcrs": [0, 24]}}`, "want ascending"},
	} {
		_, err := Parse(tc.name, []byte(tc.json))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%s): got %v, want error containing %q", tc.json, err, tc.want)
		}
	}
}

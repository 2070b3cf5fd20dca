package supervisor

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// svc is a spec with only what ordering looks at.
func svc(name string, deps ...string) Spec {
	return Spec{Name: name, Path: "/bin/" + name, DependsOn: deps}
}

func TestNewRejectsBadSpecs(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		specs   []Spec
		wantErr error
		wantMsg string // a part of the message a person needs to act
	}{
		{"duplicate", []Spec{svc("a"), svc("b"), svc("a")}, ErrDuplicateService, `"a" is defined twice`},
		{"unknown dependency", []Spec{svc("a"), svc("b", "vault")}, ErrUnknownDependency, `"b" depends on "vault", which is not defined`},
		{"self cycle", []Spec{svc("a", "a")}, ErrDependencyCycle, "a -> a"},
		{"cycle", []Spec{svc("x"), svc("a", "c"), svc("b", "a"), svc("c", "b")}, ErrDependencyCycle, "a -> c -> b -> a"},
		{"empty name", []Spec{{Path: "/bin/x"}}, ErrInvalidSpec, "empty name"},
		{"slash in name", []Spec{{Name: "a/b", Path: "/bin/x"}}, ErrInvalidSpec, `"a/b" must be usable as a file name`},
		{"relative path", []Spec{{Name: "a", Path: "skerry"}}, ErrInvalidSpec, `path "skerry" is not absolute`},
		{"path mode without path", []Spec{{Name: "a", Path: "/bin/a", Ready: ReadyPath}}, ErrInvalidSpec, "needs an absolute ReadyPath"},
		{"ready path without path mode", []Spec{{Name: "a", Path: "/bin/a", ReadyPath: "/run/a.sock"}}, ErrInvalidSpec, "ready mode is none"},
		{"negative limit", []Spec{{Name: "a", Path: "/bin/a", MemoryMax: -1}}, ErrInvalidSpec, "negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.specs)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("New: got error %v, want %v", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("New: got message %q, want it to contain %q", err, tt.wantMsg)
			}
		})
	}
}

func TestNewOrdersByDependency(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		specs []Spec
		want  []string
	}{
		{"declared order kept", []Spec{svc("streamlog"), svc("vault"), svc("agent")}, []string{"streamlog", "vault", "agent"}},
		{"dependencies first", []Spec{svc("workload", "containerd", "uplink"), svc("uplink", "agent"), svc("agent", "vault"), svc("containerd"), svc("vault", "streamlog"), svc("streamlog")},
			[]string{"containerd", "streamlog", "vault", "agent", "uplink", "workload"}},
		{"diamond", []Spec{svc("d", "b", "c"), svc("c", "a"), svc("b", "a"), svc("a")}, []string{"a", "c", "b", "d"}},
		{"none", nil, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := New(tt.specs)
			if err != nil {
				t.Fatal(err)
			}
			got := []string{}
			for _, st := range s.Status() {
				got = append(got, st.Name)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Status order (-want +got):\n%s", diff)
			}
		})
	}
}

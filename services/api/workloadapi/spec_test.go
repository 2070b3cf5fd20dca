package workloadapi

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const full = `{
  "version": 1, "tenant": "acme", "name": "web",
  "image": {"ref": "registry.example/acme/web:1.2"},
  "command": ["/web", "-listen", ":8080"],
  "env": {"MODE": "edge"},
  "user": "1000:1000",
  "resources": {"cpu": "500m", "memory": "64Mi", "pids": 128},
  "restart": {"policy": "on-failure", "maxBackoff": "1m"},
  "health": {"http": {"port": 8080, "path": "/healthz"}, "startPeriod": "30s"},
  "secrets": [{"name": "db-password"}, {"name": "api-key", "file": "key"}],
  "volumes": [{"name": "data", "path": "/data"}],
  "ports": [{"host": 8080, "container": 8080}],
  "readOnlyRoot": true,
  "labels": {"tier": "frontend"}
}`

func TestParseFull(t *testing.T) {
	got, err := Parse([]byte(full))
	if err != nil {
		t.Fatal(err)
	}
	want := &AppSpec{
		Version: 1, Tenant: "acme", Name: "web",
		Image:     Image{Ref: "registry.example/acme/web:1.2"},
		Command:   []string{"/web", "-listen", ":8080"},
		Env:       map[string]string{"MODE": "edge"},
		User:      "1000:1000",
		Resources: Resources{CPU: "500m", Memory: "64Mi", Pids: 128},
		Restart:   Restart{Policy: RestartOnFailure, MaxBackoff: Duration{time.Minute}},
		Health: &Health{HTTP: &HTTPHealth{Port: 8080, Path: "/healthz"}, StartPeriod: Duration{30 * time.Second},
			Interval: Duration{10 * time.Second}, Timeout: Duration{2 * time.Second}, FailureThreshold: 3, SuccessThreshold: 1, OnUnhealthy: "restart"},
		Secrets:      []Secret{{Name: "db-password", File: "db-password"}, {Name: "api-key", File: "key"}},
		Volumes:      []Volume{{Name: "data", Path: "/data"}},
		Ports:        []Port{{Host: 8080, Container: 8080, Protocol: "tcp"}},
		ReadOnlyRoot: true,
		Labels:       map[string]string{"tier": "frontend"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Parse (-want +got):\n%s", diff)
	}
	// What Marshal writes parses back to the same spec.
	out, err := got.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	again, err := Parse(out)
	if err != nil {
		t.Fatalf("re-parse of %s: %v", out, err)
	}
	if diff := cmp.Diff(got, again); diff != "" {
		t.Errorf("round trip (-first +second):\n%s", diff)
	}
}

func TestParseDefaults(t *testing.T) {
	got, err := Parse([]byte(`{"version":1,"tenant":"acme","name":"job","image":{"archive":"/perm/images/job.tar"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if got.Restart.Policy != RestartAlways || got.Restart.MaxBackoff.Duration != 5*time.Minute || got.User != "65534:65534" {
		t.Errorf("defaults: restart %+v, user %q; want always, 5m, 65534:65534 (not root)", got.Restart, got.User)
	}
}

func TestParseRefusals(t *testing.T) {
	base := `"version":1,"tenant":"acme","name":"web","image":{"ref":"r.example/web:1"}`
	for _, tc := range []struct{ name, in, want string }{
		{"future version", `{"version":2}`, "versions 1 to 1"},
		{"no version", `{}`, "version 0"},
		{"not json", `version: 1`, "not valid JSON"},
		{"unknown field", `{` + base + `,"imgae":{}}`, `unknown field "imgae"`},
		{"bad tenant", `{"version":1,"tenant":"Acme","name":"web","image":{"ref":"r/x"}}`, `tenant: "Acme"`},
		{"bad name", `{"version":1,"tenant":"acme","name":"-web","image":{"ref":"r/x"}}`, `name: "-web"`},
		{"no image", `{"version":1,"tenant":"acme","name":"web"}`, "image: set ref"},
		{"both images", `{"version":1,"tenant":"acme","name":"web","image":{"ref":"r/x","archive":"/a.tar"}}`, "not both"},
		{"relative archive", `{"version":1,"tenant":"acme","name":"web","image":{"archive":"a.tar"}}`, "image.archive"},
		{"bad ref", `{"version":1,"tenant":"acme","name":"web","image":{"ref":"r x"}}`, "image.ref"},
		{"bad cpu", `{` + base + `,"resources":{"cpu":"lots"}}`, `resources.cpu: "lots"`},
		{"bad memory", `{` + base + `,"resources":{"memory":"64X"}}`, `resources.memory: "64X"`},
		{"tiny memory", `{` + base + `,"resources":{"memory":"1Ki"}}`, "below 4Mi"},
		{"negative pids", `{` + base + `,"resources":{"pids":-1}}`, "resources.pids"},
		{"bad policy", `{` + base + `,"restart":{"policy":"sometimes"}}`, "restart.policy"},
		{"bad duration", `{` + base + `,"restart":{"maxBackoff":"soon"}}`, `duration "soon"`},
		{"empty health", `{` + base + `,"health":{}}`, "health: set exec"},
		{"health port", `{` + base + `,"health":{"http":{"port":0}}}`, "health.http.port"},
		{"health action", `{` + base + `,"health":{"exec":["true"],"onUnhealthy":"panic"}}`, "health.onUnhealthy"},
		{"timeout over interval", `{` + base + `,"health":{"exec":["true"],"interval":"1s","timeout":"5s"}}`, "health.timeout"},
		{"secret path", `{` + base + `,"secrets":[{"name":"db","file":"../etc/passwd"}]}`, "secrets[0].file"},
		{"secret twice", `{` + base + `,"secrets":[{"name":"db"},{"name":"db"}]}`, "secrets[1].file"},
		{"volume on /proc", `{` + base + `,"volumes":[{"name":"p","path":"/proc/x"}]}`, "volumes[0].path"},
		{"volume not clean", `{` + base + `,"volumes":[{"name":"p","path":"/data/../etc"}]}`, "volumes[0].path"},
		{"port range", `{` + base + `,"ports":[{"host":70000,"container":80}]}`, "ports[0].host"},
		{"port twice", `{` + base + `,"ports":[{"host":80,"container":80},{"host":80,"container":81}]}`, "tcp/80 is published twice"},
		{"protocol", `{` + base + `,"ports":[{"host":80,"container":80,"protocol":"sctp"}]}`, "ports[0].protocol"},
		{"env key", `{` + base + `,"env":{"1X":"y"}}`, `env: key "1X"`},
		{"user name", `{` + base + `,"user":"root"}`, `user: "root"`},
		{"escape in label", `{` + base + `,"labels":{"a":"\u001b[31mred"}}`, "control character"},
		{"bidi in command", `{` + base + `,"command":["a\u202eb"]}`, "command[0]"},
		{"trailing data", `{` + base + `} {}`, "after top-level value"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Parse([]byte(tc.in))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Parse(%s): got %+v, %v; want an error containing %q", tc.in, s, err, tc.want)
			}
			if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrVersion) {
				t.Errorf("error %v is neither ErrInvalid nor ErrVersion", err)
			}
		})
	}
}

func TestParseCPUAndSize(t *testing.T) {
	for in, want := range map[string]int64{"500m": 500, "0.5": 500, "2": 2000, "1m": 1} {
		if got, err := ParseCPU(in); err != nil || got != want {
			t.Errorf("ParseCPU(%q): got %d, %v; want %d", in, got, err, want)
		}
	}
	for in, want := range map[string]int64{"64Mi": 64 << 20, "1Gi": 1 << 30, "500M": 500e6, "4096": 4096, "2Ki": 2048} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q): got %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0", "-1Mi", "1.5Gi", "9223372036854775807Gi", "NaN"} {
		if _, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q): got no error", in)
		}
	}
	for _, in := range []string{"", "0", "0m", "NaN", "-1", "1e9"} {
		if _, err := ParseCPU(in); err == nil {
			t.Errorf("ParseCPU(%q): got no error", in)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(full))
	f.Add([]byte(`{"version":1,"tenant":"a","name":"b","image":{"archive":"/x.tar"},"health":{"exec":["true"]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse(data)
		if err != nil {
			return
		}
		out, err := s.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		again, err := Parse(out)
		if err != nil {
			t.Fatalf("re-parse of %s: %v", out, err)
		}
		if diff := cmp.Diff(s, again); diff != "" {
			t.Fatalf("round trip (-first +second):\n%s", diff)
		}
	})
}

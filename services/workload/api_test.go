package workload

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestAPIAndDesiredState puts an app through the API, checks a bad spec is
// refused with its field, then starts over (the service restarting after
// a reboot of its own process) from the desired state on disk: the app is
// taken over, not restarted.
func TestAPIAndDesiredState(t *testing.T) {
	r, mk, archive, dir := newRunner(t)
	statePath := filepath.Join(dir, "desired.json")
	st, err := OpenState(statePath, r)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(Handler(st))
	defer srv.Close()
	do := func(method, path, body string) (int, string) {
		req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	spec := `{"version":1,"tenant":"acme","name":"api","image":{"archive":"` + archive + `"},"env":{"RUN":"api","SLEEP":"1h"},"readOnlyRoot":true}`
	if code, body := do("PUT", "/v1/apps/acme/api", spec); code != 200 {
		t.Fatalf("PUT: %d %s", code, body)
	}
	for _, tc := range []struct{ path, body, want string }{
		{"/v1/apps/acme/bad", `{"version":1,"tenant":"acme","name":"bad","image":{"archive":"x.tar"}}`, "image.archive"},
		{"/v1/apps/acme/bad", `{"version":1,"tenant":"acme","name":"bad","image":{"archive":"/x.tar"},"resources":{"memory":"lots"}}`, "resources.memory"},
		{"/v1/apps/acme/other", spec, "tenant and name must be those of the path"},
		{"/v1/apps/acme/bad", `{"version":1,"tenant":"acme","name":"bad","imgae":{}}`, `unknown field`},
	} {
		if code, body := do("PUT", tc.path, tc.body); code != 400 || !strings.Contains(body, tc.want) || !strings.Contains(body, `"code": "bad_request"`) {
			t.Errorf("PUT %s %s: got %d %s, want 400 bad_request naming %q", tc.path, tc.body, code, body, tc.want)
		}
	}
	if code, body := do("PUT", "/v1/tenants/acme/quota", `{"memory":"lots"}`); code != 400 || !strings.Contains(body, "resources.memory") {
		t.Errorf("PUT a bad quota: got %d %s, want 400 naming resources.memory", code, body)
	}
	if code, body := do("PUT", "/v1/tenants/acme/quota", `{"memory":"256Mi","pids":100}`); code != 200 {
		t.Errorf("PUT a quota: got %d %s", code, body)
	}
	waitFor(t, "the app to run", 2*time.Minute, func() bool { return statusOf(r, "acme", "api").State == StateRunning })
	pid := statusOf(r, "acme", "api").PID
	if code, body := do("GET", "/v1/apps", ""); code != 200 || !strings.Contains(body, `"state": "running"`) {
		t.Errorf("GET /v1/apps: %d %s", code, body)
	}

	r.Close()
	r2 := mk()
	st2, err := OpenState(statePath, r2)
	if err != nil {
		t.Fatal(err)
	}
	if err := st2.Converge(context.Background()); err != nil {
		t.Fatal(err)
	}
	if q, ok := st2.Quota("acme"); !ok || q.Memory != "256Mi" || q.Pids != 100 {
		t.Errorf("quota of acme from the desired state: %+v, %v; want 256Mi and 100 pids", q, ok)
	}
	waitFor(t, "the app to be taken over", time.Minute, func() bool { return statusOf(r2, "acme", "api").State == StateRunning })
	if s := statusOf(r2, "acme", "api"); s.PID != pid || s.Restarts != 0 {
		t.Errorf("after restart from the desired state: %+v, want pid %d, no restart", s, pid)
	}
	if err := st2.Delete(context.Background(), "acme", "api"); err != nil {
		t.Fatal(err)
	}
	st3, err := OpenState(statePath, r2)
	if err != nil || len(st3.Apps()) != 0 {
		t.Errorf("desired state after Delete: %v, %v; want empty", st3.Apps(), err)
	}
}

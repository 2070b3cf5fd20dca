package workload

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containerd/cgroups/v3"

	"github.com/skerry/skerry/qemu/testenv"
	"github.com/skerry/skerry/services/api/workloadapi"
)

// TestSetQuotas: the tower's quotas, handed over whole (PUT /v1/quotas),
// land on the tenants' cgroups, are kept in the desired state, and a
// tenant dropped from them goes back to the default, its bounds lifted;
// a bad quota is refused naming the field and changes nothing. Real
// cgroups (v2, or v1 as on older hosts), no containers.
func TestSetQuotas(t *testing.T) {
	testenv.Integration(t, testenv.Root())
	root := fmt.Sprintf("/skerry-test-quota-%d", time.Now().UnixNano())
	var st *State
	def := workloadapi.Resources{Pids: 4096}
	r := New(nil, WithCgroupRoot(root), WithTenantQuota(func(tenant string) workloadapi.Resources {
		if q, ok := st.Quota(tenant); ok {
			return q
		}
		return def
	}))
	path := filepath.Join(t.TempDir(), "desired.json")
	var err error
	if st, err = OpenState(path, r); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeCgroups(root, "acme", "bravo") })
	h := Handler(st)
	put := func(body string) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest("PUT", "/v1/quotas", strings.NewReader(body)))
		return w
	}
	if w := put(`{"acme": {"cpu": "1", "memory": "64Mi", "pids": 50}, "bravo": {"pids": 20}}`); w.Code != http.StatusOK {
		t.Fatalf("PUT /v1/quotas: %d %s", w.Code, w.Body)
	}
	want := map[string]map[string]string{
		"acme":  {"memory": "67108864", "pids": "50", "cpu": "100000"},
		"bravo": {"memory": "max", "pids": "20", "cpu": "max"},
	}
	checkCgroups(t, root, want)

	// Refused whole: nothing changes, on disk or in the cgroups.
	w := put(`{"acme": {"memory": "lots"}}`)
	if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "memory") {
		t.Errorf("a bad quota: %d %s, want 400 naming memory", w.Code, w.Body)
	}
	checkCgroups(t, root, want)

	// acme's quota goes: the default applies and its bounds are lifted.
	if w := put(`{"bravo": {"pids": 20}}`); w.Code != http.StatusOK {
		t.Fatalf("PUT /v1/quotas: %d %s", w.Code, w.Body)
	}
	want["acme"] = map[string]string{"memory": "max", "pids": "4096", "cpu": "max"}
	checkCgroups(t, root, want)
	st2, err := OpenState(path, r)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := st2.Quota("acme"); ok {
		t.Error("acme's removed quota is still in the desired state on disk")
	}
	if q, _ := st2.Quota("bravo"); q.Pids != 20 {
		t.Errorf("bravo's quota on disk: %+v, want pids 20", q)
	}
}

// checkCgroups compares the tenants' limits as the kernel reports them,
// in cgroup v2's words ("max" for none).
func checkCgroups(t *testing.T, root string, want map[string]map[string]string) {
	t.Helper()
	for tenant, limits := range want {
		for res, w := range limits {
			if got := readLimit(t, root+"/"+tenant, res); got != w {
				t.Errorf("tenant %s %s limit: got %s, want %s", tenant, res, got, w)
			}
		}
	}
}

func readLimit(t *testing.T, path, res string) string {
	t.Helper()
	var file string
	if cgroups.Mode() == cgroups.Unified {
		file = map[string]string{"memory": "memory.max", "pids": "pids.max", "cpu": "cpu.max"}[res]
		file = "/sys/fs/cgroup" + path + "/" + file
	} else {
		file = map[string]string{"memory": "memory/%s/memory.limit_in_bytes", "pids": "pids/%s/pids.max", "cpu": "cpu/%s/cpu.cfs_quota_us"}[res]
		file = "/sys/fs/cgroup/" + fmt.Sprintf(file, path)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	v := strings.Fields(string(b))[0]
	// v1's words for "no limit": -1, or the page-rounded maximum.
	if v == "-1" || v == "9223372036854771712" {
		v = "max"
	}
	return v
}

// removeCgroups removes the test's tenant cgroups and their root.
func removeCgroups(root string, tenants ...string) {
	dirs := []string{"/sys/fs/cgroup"}
	if cgroups.Mode() != cgroups.Unified {
		dirs = []string{"/sys/fs/cgroup/memory", "/sys/fs/cgroup/pids", "/sys/fs/cgroup/cpu"}
	}
	for _, d := range dirs {
		for _, t := range tenants {
			os.Remove(d + root + "/" + t)
		}
		os.Remove(d + root)
	}
}

// TestUnboundMissingController: lifting a bound whose controller the
// cgroup does not have (no file: cpu.max on a site without the cpu
// controller) is no error; cgroupfs answers a create with EACCES.
func TestUnboundMissingController(t *testing.T) {
	testenv.Integration(t, testenv.Root())
	v2 := "/sys/fs/cgroup"
	if cgroups.Mode() != cgroups.Unified {
		v2 = "/sys/fs/cgroup/unified"
	}
	dir := fmt.Sprintf("%s/skerry-test-unbound-%d", v2, time.Now().UnixNano())
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Skipf("no cgroup v2 hierarchy to try: %v", err)
	}
	defer os.Remove(dir)
	f := cgroupFiles{mem: dir + "/none.memory.max", cpu: dir + "/none.cpu.max", pids: dir + "/none.pids.max", memMax: "max", cpuMax: "max 100000"}
	if err := unbound("acme", workloadapi.Resources{}, f); err != nil {
		t.Errorf("lift bounds of absent controllers: %v, want no error", err)
	}
}

// TestQuotaV2Files checks the files quotaV2 writes for a cgroup v2 site
// on a tree shaped like cgroupfs (this host may have cgroup v1; the VM
// test runs the real one): controllers enabled above the tenant's group
// as far as each group has them, the limits that are set.
func TestQuotaV2Files(t *testing.T) {
	mount := t.TempDir()
	files := map[string]string{
		"cgroup.controllers":                  "cpuset cpu io memory hugetlb pids rdma",
		"cgroup.subtree_control":              "",
		"tenants/cgroup.controllers":          "cpu memory pids",
		"tenants/cgroup.subtree_control":      "",
		"tenants/acme/cgroup.controllers":     "cpu memory pids",
		"tenants/acme/memory.max":             "max",
		"tenants/acme/cpu.max":                "max 100000",
		"tenants/acme/pids.max":               "max",
		"tenants/acme/cgroup.subtree_control": "",
	}
	for name, v := range files {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(mount, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(mount, name), []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	f, err := quotaV2(mount, "/tenants/acme", ptr(int64(64<<20)), ptr(int64(150000)), 0)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"cgroup.subtree_control":              "+cpu +memory +pids",
		"tenants/cgroup.subtree_control":      "+cpu +memory +pids",
		"tenants/acme/cgroup.subtree_control": "",
		"tenants/acme/memory.max":             "67108864",
		"tenants/acme/cpu.max":                "150000 100000",
		"tenants/acme/pids.max":               "max",
	} {
		if b, _ := os.ReadFile(filepath.Join(mount, name)); string(b) != want {
			t.Errorf("%s: %q, want %q", name, b, want)
		}
	}
	if f.pids != mount+"/tenants/acme/pids.max" || f.cpuMax != "max 100000" {
		t.Errorf("files for unbound: %+v", f)
	}
	if _, err := quotaV2(mount, "/tenants/bravo", nil, nil, 20); err == nil {
		t.Error("a pids limit without the group's pids.max: no error, want one")
	}
}

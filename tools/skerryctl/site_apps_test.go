package main

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/skerry/skerry/qemu/ocitest"
	"github.com/skerry/skerry/services/serve"
	"github.com/skerry/skerry/services/workload"
	"github.com/skerry/skerry/services/workload/workloadtest"
)

// TestSiteApps drives "skerryctl site apps" against a real workload
// service (a runner on a real containerd) on its unix socket: a bad spec
// is refused before anything is sent, a good one runs, list shows it, and
// delete ends it.
func TestSiteApps(t *testing.T) {
	c := workloadtest.Containerd(t)
	dir := t.TempDir()
	archive := filepath.Join(dir, "sleeper.tar")
	src := "package main\n\nimport \"time\"\n\nfunc main() { time.Sleep(time.Hour) }\n"
	if err := ocitest.Build(ocitest.Image{Name: "skerry.test/sleeper:1", Arch: runtime.GOARCH, Source: src}, archive); err != nil {
		t.Fatal(err)
	}
	r := workload.New(c, workload.WithSnapshotter("native"), workload.WithVolumeRoot(filepath.Join(dir, "vol")),
		workload.WithLogRoot(filepath.Join(dir, "logs")), workload.WithCgroupRoot("/skerry-ctl-test"), workload.WithStopGrace(time.Second))
	st, err := workload.OpenState(filepath.Join(dir, "desired.json"), r)
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "workload.sock")
	l, err := serve.Unix(sock, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- serve.HTTP(ctx, workload.Handler(st), serve.SiteLimits, slog.New(slog.DiscardHandler), l)
	}()
	defer func() { cancel(); <-done }()

	cli := func(args ...string) (string, error) {
		var out, errb bytes.Buffer
		err := run(context.Background(), &out, &errb, append([]string{"site", "apps", "-socket", sock}, args...))
		return out.String() + errb.String(), err
	}
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	bad := write("bad.json", `{"version":1,"tenant":"acme","name":"sleeper","image":{"archive":"`+archive+`"},"resources":{"memory":"lots"}}`)
	if out, err := cli("put", bad); err == nil || !strings.Contains(err.Error(), "resources.memory") {
		t.Errorf("put of a bad spec: %v %s; want a refusal naming resources.memory", err, out)
	}
	l, err = net.Listen("tcp", ":0") // a free host port for the app
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	good := write("good.json", `{"version":1,"tenant":"acme","name":"sleeper","image":{"archive":"`+archive+`"},"readOnlyRoot":true,`+
		`"ports":[{"host":`+strconv.Itoa(port)+`,"container":80}]}`)
	if out, err := cli("put", good); err != nil || !strings.Contains(out, "app acme/sleeper applied") {
		t.Fatalf("put: %v %s", err, out)
	}
	var out string
	for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(100 * time.Millisecond) {
		if out, err = cli("list"); err == nil && strings.Contains(out, "running") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("list never showed the app running: %v\n%s", err, out)
		}
	}
	if !strings.Contains(out, "TENANT") || !strings.Contains(out, "acme") || !strings.Contains(out, "sleeper") || !strings.Contains(out, strconv.Itoa(port)+"->80/tcp") {
		t.Errorf("list:\n%s", out)
	}
	if out, err := cli("-o", "json", "list"); err != nil || !strings.Contains(out, `"state": "running"`) {
		t.Errorf("list -o json: %v\n%s", err, out)
	}
	if out, err := cli("delete", "acme/sleeper"); err != nil || !strings.Contains(out, "deleted") {
		t.Errorf("delete: %v %s", err, out)
	}
	if out, err := cli("delete", "acme/sleeper"); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("second delete: %v %s; want not found", err, out)
	}
}

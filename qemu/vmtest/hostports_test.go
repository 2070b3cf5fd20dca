package vmtest

import (
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/skerry/skerry/qemu"
)

// appHostPort is the site's host port that checkApps's app publishes
// (its container port 8080); QEMU forwards it from host loopback.
const appHostPort = 18080

// checkHostPort asks box A's app over the site's host port, from the
// host: the app's HTTP server listens in the app's own network namespace,
// the workload service forwards the port into it.
func checkHostPort(t *testing.T, vm *qemu.VM) {
	t.Helper()
	url := fmt.Sprintf("http://%s/", vm.HostAddr(appHostPort))
	c := &http.Client{Timeout: 5 * time.Second}
	var last string
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(time.Second) {
		resp, err := c.Get(url)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && string(b) == "ok\n" {
				t.Logf("box A's app answered on host port %d", appHostPort)
				return
			}
			err = fmt.Errorf("%s: %q", resp.Status, b)
		}
		last = err.Error()
		if time.Now().After(deadline) {
			t.Fatalf("box A's app on its host port %d (%s): %s", appHostPort, url, last)
		}
	}
}

package health

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/skerry/skerry/services/api/uplinkapi"
	"github.com/skerry/skerry/services/contract"
	"github.com/skerry/skerry/services/uplink"
)

// TestCollectUplink serves the uplink's real status API on a socket and
// checks that the site status carries it; without the socket (the uplink
// does not run) the section is absent, and a socket that does not answer
// is an error named for the uplink.
func TestCollectUplink(t *testing.T) {
	initSock := fakeInit(t, contract.Status{Ready: true}, nil)
	dir := t.TempDir()
	sock := filepath.Join(dir, "uplink.sock")
	mon := uplink.NewMonitor(nil, uplink.DefaultRules())
	mon.SetParent("0123456789abcdef", "hub.example:8883", uplink.FromSiteConfig)
	mon.SetState(uplinkapi.StateConnecting, "")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &httptest.Server{Listener: l, Config: &http.Server{Handler: mon.Handler()}}
	srv.Start()
	t.Cleanup(srv.Close)

	collect := func(sock string) *Status {
		return New(WithInitSocket(initSock), WithUplinkSocket(sock), WithBootFile(filepath.Join(dir, "boot.json")),
			WithTPM(filepath.Join(dir, "tpm")), WithPermDir(dir)).Collect(context.Background())
	}
	st := collect(sock)
	if st.Uplink == nil || st.Uplink.State != uplinkapi.StateConnecting || st.Uplink.Parent != "hub.example:8883" || st.Uplink.ParentFrom != uplink.FromSiteConfig {
		t.Errorf("uplink section %+v: want connecting to hub.example:8883 from the site config", st.Uplink)
	}
	for _, e := range st.Errors {
		if strings.Contains(e, "uplink") {
			t.Errorf("error with a working uplink socket: %s", e)
		}
	}

	if st := collect(filepath.Join(dir, "none.sock")); st.Uplink != nil {
		t.Errorf("no uplink socket: got section %+v, want none", st.Uplink)
	}

	dead := filepath.Join(dir, "dead.sock")
	if err := os.WriteFile(dead, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	st = collect(dead)
	if st.Uplink != nil || !strings.Contains(strings.Join(st.Errors, "\n"), "uplink status:") {
		t.Errorf("uplink socket that does not answer: section %+v, errors %v; want an uplink status error", st.Uplink, st.Errors)
	}
}

package agent

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/skerry/skerry/services/api/enrollapi"
	"github.com/skerry/skerry/services/siteconfig"
	"github.com/skerry/skerry/services/tower/towertest"
)

// fast makes an agent quick enough for tests: every wait is short.
var fast = []Option{WithRetry(20 * time.Millisecond), WithSlowRetry(50 * time.Millisecond), WithReportInterval(20 * time.Millisecond)}

// running is an agent running in the background of a test.
type running struct {
	cancel context.CancelFunc
	done   chan error
	ready  chan struct{}
	log    *syncBuffer
}

// startAgent runs an agent until the test ends or stop is called.
func startAgent(t *testing.T, tower siteconfig.Tower, opts ...Option) *running {
	t.Helper()
	r := &running{done: make(chan error, 1), ready: make(chan struct{}), log: &syncBuffer{}}
	var once sync.Once
	opts = append(append([]Option{
		WithLogger(slog.New(slog.NewTextHandler(r.log, &slog.HandlerOptions{Level: slog.LevelDebug}))),
		WithReady(func() error { once.Do(func() { close(r.ready) }); return nil }),
		WithVersions("test", "test-image"),
	}, fast...), opts...)
	a := New(tower, opts...)
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- a.Run(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop cancels the agent and returns what Run returned.
func (r *running) stop(t *testing.T) error {
	t.Helper()
	r.cancel()
	select {
	case err := <-r.done:
		r.done <- err // for a second stop
		return err
	case <-time.After(10 * time.Second):
		t.Fatalf("agent did not stop within 10s; log:\n%s", r.log)
		return nil
	}
}

// wait waits until cond holds, failing the test after a while, or at once
// when the tower called a request malformed: agent and tower disagree on
// the protocol, and no retry will mend that.
func (r *running) wait(t *testing.T, what string, cond func() bool) {
	t.Helper()
	// Generous: an RSA primary key in swtpm takes seconds on a busy machine.
	for deadline := time.Now().Add(60 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if r.log.has(enrollapi.CodeBadRequest) {
			t.Fatalf("the tower refused a request as malformed while waiting until %s; agent log:\n%s", what, r.log)
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s; agent log:\n%s", what, r.log)
		}
	}
}

// syncBuffer is a log sink the test reads while the agent writes.
type syncBuffer struct{ towertest.LogBuffer }

func (s *syncBuffer) has(sub string) bool { return strings.Contains(s.String(), sub) }

// TestAgentTPMIdentity enrolls a box with its TPM, then boots it again (a
// new swtpm on the same state, the same home): the second boot reuses the
// identity and does not enroll.
func TestAgentTPMIdentity(t *testing.T) {
	tw := newTestTower(t)
	home := t.TempDir()
	sw := newSWTPM(t, true)
	a := startAgent(t, tw.config(), WithHome(home), WithTPM(sw.Path()))
	a.wait(t, "status reported", func() bool { _, _, rep := tw.counts(); return rep > 0 && a.log.has("reporting status") })
	if err := a.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if hs := loadedHandles(t, sw); len(hs) != 0 {
		t.Errorf("handles left in the TPM after the agent stopped: %v", hs)
	}
	id, err := LoadIdentity(home)
	if err != nil {
		t.Fatal(err)
	}
	if id.Software || len(id.AK) == 0 {
		t.Errorf("identity: software %v, AK %d bytes; want a TPM identity", id.Software, len(id.AK))
	}
	for _, want := range []string{"enrolling with " + tw.srv.URL, "registered as site " + id.SiteID, "reporting status"} {
		if !a.log.has(want) {
			t.Errorf("log lacks %q:\n%s", want, a.log)
		}
	}

	sw = reboot(t, sw) // power cut
	fin, _, rep := tw.counts()
	b := startAgent(t, tw.config(), WithHome(home), WithTPM(sw.Path()))
	b.wait(t, "status reported again", func() bool { _, _, r := tw.counts(); return r > rep+1 })
	if err := b.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got, _, _ := tw.counts(); got != fin {
		t.Errorf("enrollments after the second boot: got %d, want %d (no new one)", got, fin)
	}
	if hs := loadedHandles(t, sw); len(hs) != 0 {
		t.Errorf("handles left in the TPM after the second boot: %v", hs)
	}
	if !b.log.has("site " + id.SiteID + ": identity from " + home) {
		t.Errorf("second boot log does not say it reused the identity:\n%s", b.log)
	}
}

// TestAgentPendingThenApproved: the tower holds the box pending; the agent
// keeps asking, and registers once an operator approves.
func TestAgentPendingThenApproved(t *testing.T) {
	tw := newTestTower(t)
	var mu sync.Mutex
	approved := false
	tw.setDecide(func(string, string) string {
		mu.Lock()
		defer mu.Unlock()
		if approved {
			return enrollapi.StatusRegistered
		}
		return enrollapi.StatusPending
	})
	sw := newSWTPM(t, false)
	home := t.TempDir()
	a := startAgent(t, tw.config(), WithHome(home), WithTPM(sw.Path()))
	<-a.ready
	a.wait(t, "asked three times", func() bool { f, _, _ := tw.counts(); return f >= 3 })
	if !a.log.has("pending operator approval (EK sha256 ") {
		t.Errorf("log does not say pending:\n%s", a.log)
	}
	if _, err := LoadIdentity(home); !errors.Is(err, ErrNoIdentity) {
		t.Errorf("identity while pending: got %v, want ErrNoIdentity", err)
	}
	mu.Lock()
	approved = true
	mu.Unlock()
	a.wait(t, "status reported", func() bool { _, _, rep := tw.counts(); return rep > 0 })
	t.Logf("agent log:\n%s", a.log)
	// The pending line was logged once, not at every attempt.
	if n := strings.Count(a.log.String(), "level=INFO msg=\"enrolling with "+tw.srv.URL+": pending"); n != 1 {
		t.Errorf("pending logged %d times at INFO, want 1:\n%s", n, a.log)
	}
}

// TestAgentRejected: a rejected box says so loudly and asks again slowly,
// so that an operator who changes their mind reaches it.
func TestAgentRejected(t *testing.T) {
	tw := newTestTower(t)
	var mu sync.Mutex
	status := enrollapi.StatusRejected
	tw.setDecide(func(string, string) string { mu.Lock(); defer mu.Unlock(); return status })
	sw := newSWTPM(t, false)
	a := startAgent(t, tw.config(), WithHome(t.TempDir()), WithTPM(sw.Path()))
	a.wait(t, "asked twice", func() bool { f, _, _ := tw.counts(); return f >= 2 })
	if !a.log.has("REJECTED by the tower") {
		t.Errorf("log does not say rejected:\n%s", a.log)
	}
	mu.Lock()
	status = enrollapi.StatusRegistered
	mu.Unlock()
	a.wait(t, "registered", func() bool { _, r, _ := tw.counts(); return r == 1 })
}

// TestAgentLostIdentity: an identity that cannot be used (corrupt, or made
// on another TPM) is set aside and the box enrolls again.
func TestAgentLostIdentity(t *testing.T) {
	tw := newTestTower(t)
	otherHome := t.TempDir()
	other := newSWTPM(t, false)
	a := startAgent(t, tw.config(), WithHome(otherHome), WithTPM(other.Path()))
	a.wait(t, "other box reporting", func() bool { _, _, r := tw.counts(); return r > 0 })
	a.stop(t)
	foreign, err := os.ReadFile(filepath.Join(otherHome, IdentityFile))
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name, content, want string
	}{
		{name: "corrupt", content: `{"version":1,"siteId":`, want: "identity corrupt"},
		{name: "another TPM's", content: string(foreign), want: "load AK"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			home := t.TempDir()
			if err := os.WriteFile(filepath.Join(home, IdentityFile), []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			sw := newSWTPM(t, false)
			_, _, before := tw.counts()
			a := startAgent(t, tw.config(), WithHome(home), WithTPM(sw.Path()))
			a.wait(t, "enrolled again and reporting", func() bool { _, _, r := tw.counts(); return r > before })
			a.stop(t)
			if !a.log.has(tc.want) || !a.log.has("setting it aside") {
				t.Errorf("log does not say %q and that it set the identity aside:\n%s", tc.want, a.log)
			}
			old, _ := os.ReadFile(filepath.Join(home, IdentityFile+".old"))
			if string(old) != tc.content {
				t.Errorf("%s.old: got %q, want the discarded identity", IdentityFile, old)
			}
			if _, err := LoadIdentity(home); err != nil {
				t.Errorf("identity after enrolling again: %v", err)
			}
		})
	}
}

// TestAgentSoftware covers boxes without a TPM, which need no swtpm.
func TestAgentSoftware(t *testing.T) {
	noTPM := WithTPM(filepath.Join(t.TempDir(), "no-tpm"))
	t.Run("refused unless allowed", func(t *testing.T) {
		tw := newTestTower(t)
		a := startAgent(t, tw.config(), WithHome(t.TempDir()), noTPM)
		select {
		case err := <-a.done:
			a.done <- err
			if !errors.Is(err, ErrNoTPM) {
				t.Errorf("Run: got %v, want ErrNoTPM", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Run did not return")
		}
		select {
		case <-a.ready:
		default:
			t.Error("Run refused without calling ready: the box would not finish booting")
		}
		if f, _, _ := tw.counts(); f != 0 {
			t.Errorf("enrollments: got %d, want 0", f)
		}
	})
	t.Run("allowed", func(t *testing.T) {
		tw := newTestTower(t)
		home := t.TempDir()
		a := startAgent(t, tw.config(), WithHome(home), noTPM, WithSoftwareIdentity(true))
		a.wait(t, "status reported", func() bool { _, _, rep := tw.counts(); return rep > 0 })
		a.stop(t)
		id, err := LoadIdentity(home)
		if err != nil {
			t.Fatal(err)
		}
		if !id.Software || !tw.isSoftware(id.SiteID) {
			t.Errorf("software: identity %v, tower %v; want both true", id.Software, tw.isSoftware(id.SiteID))
		}
		// The next boot reuses it, TPM or not.
		fin, _, rep := tw.counts()
		b := startAgent(t, tw.config(), WithHome(home), noTPM)
		b.wait(t, "status reported again", func() bool { _, _, r := tw.counts(); return r > rep })
		if got, _, _ := tw.counts(); got != fin {
			t.Errorf("enrollments after the second boot: got %d, want %d", got, fin)
		}
	})
}

// TestAgentConfig covers the tower settings a box may be given.
func TestAgentConfig(t *testing.T) {
	for _, tc := range []struct {
		name    string
		tower   siteconfig.Tower
		wantErr error
		wantLog string
	}{
		{name: "no tower", tower: siteconfig.Tower{}, wantLog: "no tower configured"},
		{name: "plain http", tower: siteconfig.Tower{URL: "http://tower.test"}, wantErr: ErrConfig, wantLog: "want https"},
		{name: "not a URL", tower: siteconfig.Tower{URL: "tower.test"}, wantErr: ErrConfig, wantLog: "want https"},
		{name: "bad CA", tower: siteconfig.Tower{URL: "https://tower.test", CA: "not PEM"}, wantErr: ErrConfig, wantLog: "no PEM certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := startAgent(t, tc.tower, WithHome(t.TempDir()), WithTPM(filepath.Join(t.TempDir(), "no-tpm")))
			<-a.ready
			var err error
			if tc.wantErr == nil {
				time.Sleep(20 * time.Millisecond) // it idles until stopped
				err = a.stop(t)
			} else {
				err = <-a.done
				a.done <- err
			}
			if !errors.Is(err, tc.wantErr) && err != tc.wantErr {
				t.Errorf("Run: got %v, want %v", err, tc.wantErr)
			}
			if !a.log.has(tc.wantLog) {
				t.Errorf("log lacks %q:\n%s", tc.wantLog, a.log)
			}
		})
	}
}

// TestAgentTowerDown: the box is ready at once and keeps trying, backing
// off, while the tower does not answer.
func TestAgentTowerDown(t *testing.T) {
	tw := newTestTower(t)
	cfg := tw.config()
	tw.srv.Close()
	a := startAgent(t, cfg, WithHome(t.TempDir()), WithTPM(filepath.Join(t.TempDir(), "no-tpm")), WithSoftwareIdentity(true))
	<-a.ready
	a.wait(t, "a failure logged", func() bool { return a.log.has("failed") && a.log.has("trying again in") })
}

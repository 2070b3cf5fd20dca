package workload

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/skerry/skerry/services/serve"
	"github.com/skerry/skerry/services/streamlog"
	slapi "github.com/skerry/skerry/services/streamlog/api"
	"github.com/skerry/skerry/services/streamlog/client"
)

// startStreamlog serves a real stream log on a unix socket and returns a
// client with its system token.
func startStreamlog(t *testing.T) *client.Client {
	t.Helper()
	dir := t.TempDir()
	store, err := streamlog.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	auth, err := slapi.LoadAuth(dir)
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "streamlog.sock")
	l, err := serve.Unix(sock, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { slapi.New(store, auth, slog.New(slog.DiscardHandler)).Serve(ctx, l); close(done) }()
	t.Cleanup(func() { cancel(); <-done; store.Close() })
	tok, err := os.ReadFile(auth.SystemTokenPath())
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.New(sock, client.WithToken(string(tok)))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestLogsIntoStreamlog: an app's output goes into its tenant's topic
// app.<name>.log, every line once and in order, although the runner is
// stopped and replaced while the app writes; shipped blocks are freed
// from the log file.
func TestLogsIntoStreamlog(t *testing.T) {
	sl := startStreamlog(t)
	r, mk, archive, dir := newRunner(t, WithStreamlog(sl))
	const lines = 400
	spec := probeSpec("acme", "talker", archive, map[string]string{"LINES": fmt.Sprint(lines), "SLEEP": "1h"})
	ctx := context.Background()
	if err := r.Apply(ctx, spec); err != nil {
		t.Fatal(err)
	}
	topic := LogTopic("acme", "talker")
	count := func() int {
		info, err := sl.Topic(ctx, topic)
		if err != nil {
			return 0
		}
		return int(info.Next)
	}
	waitFor(t, "the first lines in the topic", 2*time.Minute, func() bool { return count() > 20 })
	// The service restarts while the app writes: the shim keeps writing
	// the file, the next runner ships from where the topic says.
	r.Close()
	time.Sleep(700 * time.Millisecond)
	r2 := mk()
	if err := r2.Apply(ctx, spec); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r2.Remove(ctx, "acme", "talker") })
	waitFor(t, "every line in the topic", time.Minute, func() bool {
		recs, _ := sl.Read(ctx, topic, client.From{Offset: uint64(max(count()-1, 0))}, 1)
		return len(recs) == 1 && strings.HasPrefix(string(recs[0].Value), fmt.Sprintf("probe line %04d", lines-1))
	})
	recs, err := sl.Read(ctx, topic, client.From{}, 10000)
	if err != nil {
		t.Fatal(err)
	}
	next := 0
	for _, rec := range recs {
		v := string(rec.Value)
		if !strings.HasPrefix(v, "probe line ") {
			continue
		}
		if want := fmt.Sprintf("probe line %04d %s", next, strings.Repeat("x", 100)); v != want {
			t.Fatalf("record %d: got %.30q…, want %.30q… (each line once, in order)", rec.Offset, v, want)
		}
		next++
	}
	if next != lines {
		t.Errorf("got %d numbered lines, want %d", next, lines)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Join(dir, "logs", "acme", "talker.log"), &st); err != nil {
		t.Fatal(err)
	}
	if used := st.Blocks * 512; used > 16<<10 || st.Size < 40000 {
		t.Errorf("log file: %d bytes long, %d on disk; want the shipped blocks freed (at most 16 KiB left)", st.Size, used)
	}
}

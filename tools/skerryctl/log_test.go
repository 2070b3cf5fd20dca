package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/skerry/skerry/services/streamlog"
	"github.com/skerry/skerry/services/streamlog/api"
)

// startLog serves a fresh stream log on a socket and returns the flags
// that point skerryctl site log at it.
func startLog(t *testing.T) []string {
	t.Helper()
	dir := t.TempDir()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := streamlog.Open(dir, streamlog.WithLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	auth, err := api.LoadAuth(dir)
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "s.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { api.New(st, auth, log).Serve(ctx, l); close(done) }()
	t.Cleanup(func() { cancel(); <-done; st.Close() })
	os.Unsetenv("SKERRY_LOG_TOKEN")
	return []string{"-addr", sock, "-token-file", auth.SystemTokenPath()}
}

func TestLogCommands(t *testing.T) {
	flags := startLog(t)
	steps := []struct {
		args    []string
		stdin   string
		want    []string // substrings of stdout
		wantErr string
	}{
		{args: []string{"create", "-max-age", "24h", "acme/events"}, want: []string{"created acme/events"}},
		{args: []string{"produce", "-key", "k", "acme/events"}, stdin: "one\ntwo\nthree\n", want: []string{"produced 3 records to acme/events, offsets 0-2"}},
		{args: []string{"list"}, want: []string{"acme/events  persistent  0      3"}},
		{args: []string{"consume", "-offset", "1", "acme/events"}, want: []string{"1\t", "\tk\ttwo\n", "\tk\tthree\n"}},
		{args: []string{"consume", "-cursor", "me", "-n", "2", "acme/events"}, want: []string{"\tone\n", "\ttwo\n"}},
		{args: []string{"tail", "-cursor", "me", "-n", "1", "acme/events"}, want: []string{"2\t", "\tthree\n"}},
		{args: []string{"describe", "acme/events"}, want: []string{`"consumer": "me"`, `"offset": 3`, `"maxAge": "24h0m0s"`}},
		{args: []string{"token", "acme"}, want: []string{"skl_acme_"}},
		{args: []string{"metrics"}, want: []string{`skerry_streamlog_appended_records_total{tenant="acme",topic="events"} 3`}},
		{args: []string{"consume", "acme/nope"}, wantErr: "topic not found: acme/nope"},
		{args: []string{"create", "Acme/x"}, wantErr: `tenant "Acme"`},
		{args: []string{"consume", "-time", "yesterday", "acme/events"}, wantErr: "RFC 3339"},
		{args: []string{"frobnicate"}, wantErr: `unknown log command "frobnicate"`},
	}
	for _, st := range steps {
		var out, errOut bytes.Buffer
		err := runLogIO(context.Background(), strings.NewReader(st.stdin), &out, &errOut, append(append([]string(nil), flags...), st.args...))
		if st.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), st.wantErr) {
				t.Errorf("log %v: got error %v, want one containing %q", st.args, err, st.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("log %v: %v\n%s", st.args, err, errOut.String())
		}
		for _, w := range st.want {
			if !strings.Contains(out.String(), w) {
				t.Errorf("log %v: output %q lacks %q", st.args, out.String(), w)
			}
		}
	}
}

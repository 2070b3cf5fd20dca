package main

import (
	"bytes"
	"regexp"
	"testing"

	"github.com/skerry/skerry/init/internal/console"
)

func TestConsoleSink(t *testing.T) {
	for _, tc := range []struct {
		service, line, want string
	}{
		{"agent", `time=2026-11-23T01:00:00Z level=INFO msg="registered as site s-1 with https://tower" service=agent`, `init: agent: registered as site s-1 with https://tower`},
		{"agent", `plain line`, `init: agent: plain line`},
		{"containerd", `time=x level=ERROR msg="failed to load plugin" error=boom`, `init: containerd: ERROR: failed to load plugin`},
		{"containerd", `time=x level=info msg="loading plugin"`, ``},
		{"streamlog", `time=x level=INFO msg=started`, ``},
		// The level is the record's field, not text that looks like one.
		{"streamlog", `time=x level=INFO msg="topic level=ERROR created" service=streamlog`, ``},
		{"health", `time=x level=WARN msg=slow detail="level=ERROR"`, ``},
		{"health", `plain text mentioning level=ERROR`, ``},
		// containerd (logrus) writes lowercase levels.
		{"containerd", `time="2026-11-23T01:00:00Z" level=error msg="shim died" id=abc`, `init: containerd: ERROR: shim died`},
		{"streamlog", `time=x level=ERROR+2 msg="worse than an error"`, `init: streamlog: ERROR: worse than an error`},
		{"agent", `time=x level=ERROR msg="quoted \"inner\" text" err=x`, `init: agent: ERROR: quoted "inner" text`},
	} {
		var buf bytes.Buffer
		consoleSink(console.New(&buf))(tc.service, []byte(tc.line))
		got := regexp.MustCompile(`^\[\s*[0-9.]+\] `).ReplaceAllString(buf.String(), "")
		want := tc.want
		if want != "" {
			want += "\n"
		}
		if got != want {
			t.Errorf("%s %q: got %q, want %q", tc.service, tc.line, got, want)
		}
	}
}

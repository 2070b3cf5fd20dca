package qemu

import (
	"context"
	"errors"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/skerry/skerry/board"
)

// vmTest skips a test that boots QEMU under -short, and when a tool it
// needs is missing, unless SKERRY_VMTEST=1 says the machine is set up for
// VM tests, in which case a missing tool is a failure.
func vmTest(t *testing.T, tools ...string) {
	t.Helper()
	if testing.Short() {
		t.Skip("boots QEMU; skipped under -short")
	}
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			missing(t, "%s is not installed (make deps installs it)", tool)
		}
	}
}

// missing skips, or fails when SKERRY_VMTEST=1.
func missing(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv(EnvVMTest) == "1" {
		t.Fatalf(format, args...)
	}
	t.Skipf(format+" (set "+EnvVMTest+"=1 to fail instead)", args...)
}

func lookup(t *testing.T, name string) *board.Board {
	t.Helper()
	b, err := board.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// kernel returns the board's kernel from the image build's output.
func kernel(t *testing.T, b *board.Board) string {
	t.Helper()
	path, err := OutPath(b.Name, "vmlinuz")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		missing(t, "no kernel for %s at %s: build the image first (make image BOARD=%s)", b.Name, path, b.Name)
	}
	return path
}

// start starts a VM that the test's cleanup closes, with the console and
// the bench's log in the test's output.
func start(t *testing.T, cfg Config, opts ...Option) *VM {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	opts = append([]Option{
		WithConsoleLog(t.Logf, cfg.Board.Name+"| "),
		WithLogger(slog.New(slog.NewTextHandler(t.Output(), nil))),
	}, opts...)
	vm, err := Start(ctx, cfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := vm.Close(); err != nil {
			t.Error(err)
		}
	})
	return vm
}

// child is a process whose parent is the test binary.
type child struct {
	pid  int
	comm string
}

// children lists the test binary's children whose name starts with one of
// prefixes, from /proc.
func children(t *testing.T, prefixes ...string) []child {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var out []child
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue // exited meanwhile
		}
		// pid (comm) state ppid ...; comm may hold spaces, so split after
		// the last parenthesis.
		s := string(stat)
		open, close := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || close < open {
			continue
		}
		comm, rest := s[open+1:close], strings.Fields(s[close+1:])
		if len(rest) < 2 || rest[1] != strconv.Itoa(os.Getpid()) {
			continue
		}
		for _, p := range prefixes {
			if strings.HasPrefix(comm, p) {
				out = append(out, child{pid, comm})
			}
		}
	}
	return out
}

package qemu

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

// consoleVM is a VM with nothing but a console fed from a pipe: the expect
// logic, without QEMU. The returned writer is the guest's serial port.
func consoleVM(t *testing.T, mirror func(string)) (*VM, *io.PipeWriter) {
	t.Helper()
	r, w := io.Pipe()
	vm := &VM{con: newConsole(mirror), opts: defaultOptions(), started: time.Now()}
	done := make(chan struct{})
	go func() {
		defer close(done)
		vm.con.feed(r)
	}()
	t.Cleanup(func() {
		w.Close()
		<-done
	})
	return vm, w
}

// TestExpectSequence feeds console output in pieces and runs expects one
// after another: each starts where the last match ended.
func TestExpectSequence(t *testing.T) {
	type step struct {
		feed    string // written before the expect
		pattern string // literal, or /regexp/
		want    []string
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"lines in order", []step{
			{"one\r\ntwo\r\nthree\r\n", "two", []string{"two"}},
			{"", "three", []string{"three"}},
		}},
		{"cursor skips matched lines", []step{
			{"ready 1\nready 2\n", "/ready (\\d)/", []string{"ready 1", "1"}},
			{"", "/ready (\\d)/", []string{"ready 2", "2"}},
			{"ready 3\n", "/ready (\\d)/", []string{"ready 3", "3"}},
		}},
		{"line split across writes", []step{
			{"boot st", "", nil},
			{"age=2 done\n", "/stage=(\\d)/", []string{"stage=2", "2"}},
		}},
		{"prompt without newline", []step{
			{"Welcome\nlogin: ", "login: ", []string{"login: "}},
			{"root\nPassword: ", "Password:", []string{"Password:"}},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vm, w := consoleVM(t, nil)
			for i, s := range tc.steps {
				if s.feed != "" {
					io.WriteString(w, s.feed)
				}
				if s.pattern == "" {
					continue
				}
				ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
				var m Match
				var err error
				if p, ok := strings.CutPrefix(s.pattern, "/"); ok {
					m, err = vm.ExpectRegexp(ctx, regexp.MustCompile(strings.TrimSuffix(p, "/")))
				} else {
					m, err = vm.Expect(ctx, s.pattern)
				}
				cancel()
				if err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				if diff := cmp.Diff(s.want, m.Groups); diff != "" {
					t.Errorf("step %d groups (-want +got):\n%s", i, diff)
				}
				if m.At.IsZero() || m.Since < 0 {
					t.Errorf("step %d: At %v, Since %v: want the arrival time", i, m.At, m.Since)
				}
			}
		})
	}
}

func TestExpectTimeoutTail(t *testing.T) {
	vm, w := consoleVM(t, nil)
	for i := range 100 {
		fmt.Fprintf(w, "line %d\r\n", i)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	_, err := vm.Expect(ctx, "absent")
	var ee *ExpectError
	if !errors.As(err, &ee) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Expect: got %v, want an ExpectError for the deadline", err)
	}
	var want []string
	for i := 60; i < 100; i++ {
		want = append(want, fmt.Sprintf("line %d", i))
	}
	if diff := cmp.Diff(want, ee.Tail); diff != "" {
		t.Errorf("tail (-want +got):\n%s", diff)
	}
	if !strings.Contains(err.Error(), "\n\t| line 99") {
		t.Errorf("message lacks the tail:\n%v", err)
	}
	// A failed expect does not move the cursor.
	if _, err := vm.Expect(t.Context(), "line 0"); err != nil {
		t.Errorf("Expect after a timeout: %v", err)
	}
}

func TestExpectEndsAtExit(t *testing.T) {
	vm, w := consoleVM(t, nil)
	io.WriteString(w, "Power down.\n")
	go func() {
		time.Sleep(20 * time.Millisecond)
		w.Close()
	}()
	start := time.Now()
	_, err := vm.Expect(t.Context(), "login:")
	if !errors.Is(err, ErrExited) {
		t.Fatalf("Expect: got %v, want ErrExited", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Expect waited %v after the console closed", d)
	}
}

func TestMirror(t *testing.T) {
	var got []string
	vm, w := consoleVM(t, func(line string) { got = append(got, line) })
	io.WriteString(w, "a\r\nb")
	io.WriteString(w, "c\nlast")
	w.Close()
	if _, err := vm.Expect(t.Context(), "never"); !errors.Is(err, ErrExited) {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"a", "bc", "last"}, got, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("mirrored lines (-want +got):\n%s", diff)
	}
	if got, want := vm.Console(), "a\nbc\nlast"; got != want {
		t.Errorf("Console: got %q, want %q", got, want)
	}
}

func TestConsoleWriter(t *testing.T) {
	var buf strings.Builder
	o := defaultOptions()
	WithConsoleWriter(&buf, "arm64| ")(&o)
	vm, w := consoleVM(t, o.mirror)
	io.WriteString(w, "EFI stub: Booting Linux Kernel...\r\n[    0.000000] Linux version 6.1.0\r\n")
	w.Close()
	vm.Expect(t.Context(), "never") // returns once the console is done
	want := "arm64| EFI stub: Booting Linux Kernel...\narm64| [    0.000000] Linux version 6.1.0\n"
	if got := buf.String(); got != want {
		t.Errorf("mirrored: got %q, want %q", got, want)
	}
}

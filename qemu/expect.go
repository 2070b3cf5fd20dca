package qemu

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Match is a console line that an expect found.
type Match struct {
	// Line is the whole line, without its newline; when the match was in
	// the incomplete last line (a prompt), what had arrived of it.
	Line string
	// Groups are the regexp's submatches, the whole match first; for a
	// plain string, just that string.
	Groups []string
	// At is when the matching text arrived from QEMU.
	At time.Time
	// Since is At minus the time QEMU was started: "QEMU start to this
	// line", the figure boot benchmarks report.
	Since time.Duration
}

// ExpectError is returned when an expect gives up. Its message carries the
// last console lines, so a failing test explains itself without a rerun.
type ExpectError struct {
	Pattern string
	Err     error // ErrExited, ErrClosed, or the context's error
	Tail    []string
}

func (e *ExpectError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "expect %s: %v; last %d console lines:", e.Pattern, e.Err, len(e.Tail))
	for _, l := range e.Tail {
		b.WriteString("\n\t| ")
		b.WriteString(l)
	}
	return b.String()
}

func (e *ExpectError) Unwrap() error { return e.Err }

// tailLines is how much console an ExpectError shows: enough for a kernel
// panic with its backtrace, short enough to read in a test log.
const tailLines = 40

// Expect waits until a console line contains s, scanning from the cursor,
// and moves the cursor past that line. It gives up when ctx ends, when the
// VM's expect timeout (WithExpectTimeout) passes, or when QEMU exits.
func (vm *VM) Expect(ctx context.Context, s string) (Match, error) {
	return vm.expect(ctx, fmt.Sprintf("%q", s), func(line string) []string {
		if strings.Contains(line, s) {
			return []string{s}
		}
		return nil
	})
}

// ExpectRegexp is Expect for a regular expression; Match.Groups holds its
// submatches.
func (vm *VM) ExpectRegexp(ctx context.Context, re *regexp.Regexp) (Match, error) {
	return vm.expect(ctx, "/"+re.String()+"/", re.FindStringSubmatch)
}

func (vm *VM) expect(ctx context.Context, pattern string, m matcher) (Match, error) {
	ctx, cancel := context.WithTimeout(ctx, vm.opts.expectTimeout)
	defer cancel()
	fail := func(err error) (Match, error) {
		return Match{}, &ExpectError{Pattern: pattern, Err: err, Tail: vm.con.tail(tailLines)}
	}
	from := 0
	for {
		wake := vm.con.waitChan()
		match, next, ok, done := vm.con.scan(m, from)
		if ok {
			match.Since = match.At.Sub(vm.started)
			return match, nil
		}
		if done {
			if vm.isClosed() {
				return fail(ErrClosed)
			}
			return fail(ErrExited)
		}
		from = next
		select {
		case <-wake:
		case <-ctx.Done():
			return fail(ctx.Err())
		}
	}
}

// Mark returns the expect cursor's position, for Rewind.
func (vm *VM) Mark() int {
	vm.con.mu.Lock()
	defer vm.con.mu.Unlock()
	return vm.con.cursor
}

// Rewind moves the expect cursor back to a Mark, so that lines a boot prints
// in either order (the agent's "registered" and init's "ready") can each be
// expected from the same point.
func (vm *VM) Rewind(mark int) {
	vm.con.mu.Lock()
	defer vm.con.mu.Unlock()
	vm.con.cursor = min(mark, vm.con.cursor)
}

// Console returns everything the guest printed so far.
func (vm *VM) Console() string { return vm.con.text() }

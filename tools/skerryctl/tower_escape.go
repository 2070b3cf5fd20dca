package main

import (
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"
)

// What skerryctl prints of the tower's answers goes through escape: the
// tower refuses control characters in what operators set, but a box says
// what it likes about itself (hostname, serial), an older tower may hold
// anything, and a terminal must never receive raw escape sequences or
// bidirectional overrides from a server.

// escape returns s with every control character (but newline and tab), every
// bidirectional text control and every invalid UTF-8 byte written as
// \uXXXX or \xNN, which is also a valid escape inside a JSON string.
func escape(s string) string {
	if !needsEscape(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case unsafeRune(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

func needsEscape(s string) bool {
	if !utf8.ValidString(s) {
		return true
	}
	for _, r := range s {
		if unsafeRune(r) {
			return true
		}
	}
	return false
}

// unsafeRune reports whether r must not reach a terminal raw.
func unsafeRune(r rune) bool {
	switch {
	case r == '\n', r == '\t':
		return false
	case unicode.IsControl(r):
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069, r == 0x200e, r == 0x200f, r == 0x061c:
		return true
	}
	return false
}

// escapeWriter escapes everything written through it.
type escapeWriter struct{ w io.Writer }

func (e escapeWriter) Write(p []byte) (int, error) {
	if _, err := io.WriteString(e.w, escape(string(p))); err != nil {
		return 0, err
	}
	return len(p), nil
}

// escapedError shows err's message escaped and keeps it for errors.Is.
type escapedError struct{ err error }

func (e escapedError) Error() string { return escape(e.err.Error()) }
func (e escapedError) Unwrap() error { return e.err }

// escapeErr wraps err so that printing it prints no raw control
// characters.
func escapeErr(err error) error {
	if err == nil || !needsEscape(err.Error()) {
		return err
	}
	return escapedError{err}
}

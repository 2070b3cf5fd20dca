package main

import (
	"regexp"
	"strconv"
	"strings"

	"github.com/skerry/skerry/init/internal/console"
)

// consoleServices have every line shown on the console, not only in their
// log ring: an operator who plugs a box in watches it register.
var consoleServices = map[string]bool{"agent": true}

// msgRE finds slog's text-format message: msg="..." or msg=word.
var msgRE = regexp.MustCompile(`\bmsg=("(?:[^"\\]|\\.)*"|\S+)`)

// consoleSink mirrors service output to the console: all of a console
// service's lines, and every service's errors.
func consoleSink(log *console.Logger) func(service string, line []byte) {
	return func(service string, line []byte) {
		s := string(line)
		isErr := strings.Contains(s, "level=ERROR")
		if !consoleServices[service] && !isErr {
			return
		}
		if m := msgRE.FindStringSubmatch(s); m != nil {
			msg := m[1]
			if u, err := strconv.Unquote(msg); err == nil {
				msg = u
			}
			if isErr {
				msg = "ERROR: " + msg
			}
			s = msg
		}
		log.Printf("%s: %s", service, s)
	}
}

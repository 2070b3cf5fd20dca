package main

import (
	"strconv"
	"strings"

	"github.com/skerry/skerry/init/internal/console"
)

// consoleServices have every line shown on the console, not only in their
// log ring: an operator who plugs a box in watches it register.
var consoleServices = map[string]bool{"agent": true}

// consoleSink mirrors service output to the console: all of a console
// service's lines, and every service's errors. A line is read as a
// structured record (slog's text handler, or logfmt as containerd writes
// it): its level= field, not text that happens to look like one, says
// whether it is an error, and its msg= field is what is shown.
func consoleSink(log *console.Logger) func(service string, line []byte) {
	return func(service string, line []byte) {
		s := string(line)
		rec, structured := parseLogfmt(s)
		isErr := structured && isErrorLevel(rec["level"])
		if !consoleServices[service] && !isErr {
			return
		}
		if msg, ok := rec["msg"]; structured && ok {
			s = msg
			if isErr {
				s = "ERROR: " + msg
			}
		}
		log.Printf("%s: %s", service, s)
	}
}

func isErrorLevel(l string) bool {
	switch strings.ToUpper(l) {
	case "ERROR", "FATAL", "PANIC":
		return true
	}
	// slog writes levels above ERROR as ERROR+n.
	return strings.HasPrefix(strings.ToUpper(l), "ERROR+")
}

// parseLogfmt reads a line of key=value pairs, values bare or quoted as
// strconv.Quote does (slog's text handler). ok is false when the line is
// not such a record (plain text), or has no level.
func parseLogfmt(s string) (rec map[string]string, ok bool) {
	rec = map[string]string{}
	for s = strings.TrimSpace(s); s != ""; s = strings.TrimLeft(s, " ") {
		eq := strings.IndexByte(s, '=')
		if eq <= 0 || strings.ContainsAny(s[:eq], " \"") {
			return nil, false
		}
		key := s[:eq]
		s = s[eq+1:]
		var val string
		if strings.HasPrefix(s, `"`) {
			q, err := strconv.QuotedPrefix(s)
			if err != nil {
				return nil, false
			}
			val, _ = strconv.Unquote(q)
			s = s[len(q):]
		} else {
			end := strings.IndexByte(s, ' ')
			if end < 0 {
				end = len(s)
			}
			val, s = s[:end], s[end:]
		}
		rec[key] = val
	}
	_, ok = rec["level"]
	return rec, ok
}

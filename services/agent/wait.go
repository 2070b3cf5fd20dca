package agent

import (
	"context"
	"log/slog"
	"strings"
	"time"
)

// sleep waits for d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// backoff doubles base for each failure, up to max.
func backoff(base, max time.Duration, failures int) time.Duration {
	d := base
	for i := 0; i < failures && d < max; i++ {
		d *= 2
	}
	return min(d, max)
}

// remindEvery is how often a narrator repeats an unchanged line.
const remindEvery = 10 * time.Minute

// narrator logs what the agent is doing without flooding the log: a line
// that repeats the last one is logged again only every remindEvery, so a
// box waiting for approval all week does not bury its log in "pending".
type narrator struct {
	last string
	at   time.Time
}

func (n *narrator) say(log *slog.Logger, level, msg string) {
	if msg == n.last && time.Since(n.at) < remindEvery {
		log.Debug(msg)
		return
	}
	n.last, n.at = msg, time.Now()
	switch level {
	case "error":
		log.Warn(msg)
	case "rejected":
		log.Error(msg)
	default:
		log.Info(msg)
	}
}

// short abbreviates "EK sha256 <hex>" for a log line; the full hash goes in
// an attribute.
func short(fingerprint string) string {
	i := strings.LastIndexByte(fingerprint, ' ')
	if i < 0 || len(fingerprint)-i-1 <= 16 {
		return fingerprint
	}
	return fingerprint[:i+1+16] + "…"
}

// detail formats the tower's message for the end of a log line.
func detail(msg string) string {
	if msg == "" {
		return ""
	}
	return ": " + msg
}

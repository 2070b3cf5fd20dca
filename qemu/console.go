package qemu

import (
	"bytes"
	"io"
	"sort"
	"strings"
	"sync"
	"time"
)

// console keeps everything the guest printed on its serial port, with the
// time each piece arrived, and a cursor that successive expects move
// forward. It is fed by one goroutine (feed) and read by any number.
type console struct {
	mu     sync.Mutex
	buf    []byte  // all output so far, carriage returns dropped
	chunks []chunk // arrival times, in buf order
	cursor int     // offset in buf where the next expect starts scanning
	done   bool    // no more output will come (QEMU closed the port)
	// wake is closed and replaced whenever buf grows or done is set, so
	// waiters need no polling.
	wake   chan struct{}
	mirror func(line string) // optional live copy, one call per line
	now    func() time.Time
}

// chunk records that buf[:end] had arrived by time at.
type chunk struct {
	end int
	at  time.Time
}

func newConsole(mirror func(string)) *console {
	return &console{wake: make(chan struct{}), mirror: mirror, now: time.Now}
}

// feed copies r into the console until EOF, then marks it done. The guest
// writes CRLF line ends; dropping every CR keeps lines clean for matching
// and for logs, and nothing the bench checks depends on a bare CR.
func (c *console) feed(r io.Reader) {
	var partial []byte // mirror's incomplete last line
	p := make([]byte, 32<<10)
	for {
		n, err := r.Read(p)
		if n > 0 {
			data := bytes.ReplaceAll(p[:n], []byte{'\r'}, nil)
			c.mu.Lock()
			c.buf = append(c.buf, data...)
			c.chunks = append(c.chunks, chunk{end: len(c.buf), at: c.now()})
			c.broadcast()
			c.mu.Unlock()
			if c.mirror != nil {
				partial = append(partial, data...)
				for {
					i := bytes.IndexByte(partial, '\n')
					if i < 0 {
						break
					}
					c.mirror(string(partial[:i]))
					partial = partial[i+1:]
				}
			}
		}
		if err != nil {
			break
		}
	}
	if c.mirror != nil && len(partial) > 0 {
		c.mirror(string(partial))
	}
	c.mu.Lock()
	c.done = true
	c.broadcast()
	c.mu.Unlock()
}

// broadcast wakes every waiter; c.mu must be held.
func (c *console) broadcast() {
	close(c.wake)
	c.wake = make(chan struct{})
}

// matcher reports whether line matches and, if so, its submatches
// (the whole match first).
type matcher func(line string) []string

// scan looks for m in the lines from the cursor on, the incomplete last
// line included, so a prompt without a newline can be matched. It moves
// the cursor past the matching line (or past what has arrived of it). It
// returns ok=false and the done flag when nothing matched.
func (c *console) scan(m matcher, from int) (match Match, next int, ok, done bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	from = max(from, c.cursor)
	for start := from; start < len(c.buf); {
		end, next, complete := len(c.buf), len(c.buf), false
		if i := bytes.IndexByte(c.buf[start:], '\n'); i >= 0 {
			end, next, complete = start+i, start+i+1, true
		}
		line := string(c.buf[start:end])
		if groups := m(line); groups != nil {
			c.cursor = next
			return Match{Line: line, Groups: groups, At: c.arrival(end)}, next, true, false
		}
		if !complete {
			// Scan the incomplete line again when more of it arrives.
			return Match{}, start, false, c.done
		}
		start = next
	}
	return Match{}, len(c.buf), false, c.done
}

// arrival returns when buf[:end] had arrived (the time of the chunk that
// completed it); c.mu must be held.
func (c *console) arrival(end int) time.Time {
	i := sort.Search(len(c.chunks), func(i int) bool { return c.chunks[i].end >= end })
	if i == len(c.chunks) {
		if i == 0 {
			return time.Time{}
		}
		i--
	}
	return c.chunks[i].at
}

// waitChan returns a channel closed at the next change; check with scan
// after taking it, never before, or a change could be missed.
func (c *console) waitChan() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.wake
}

// text returns all output so far.
func (c *console) text() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return string(c.buf)
}

// tail returns the last n lines (the incomplete last line counts).
func (c *console) tail(n int) []string {
	c.mu.Lock()
	s := strings.TrimSuffix(string(c.buf), "\n")
	c.mu.Unlock()
	if s == "" {
		return nil
	}
	lines := strings.Split(s, "\n")
	return lines[max(0, len(lines)-n):]
}

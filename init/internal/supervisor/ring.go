package supervisor

import (
	"bytes"
	"sync"
)

// DefaultRingSize is how many bytes of output are kept per service.
const DefaultRingSize = 64 << 10

// ring keeps the last size bytes written to it. It is safe for concurrent
// use: one goroutine writes a service's output while the control socket
// reads it. A fixed circular buffer rather than a growing slice trimmed at
// the front: a chatty service costs a copy of each line, never of the ring,
// and memory stays fixed for init's whole life.
type ring struct {
	mu    sync.Mutex
	buf   []byte // fixed length: the capacity
	start int    // index of the oldest byte
	n     int    // bytes held
	cut   bool   // the oldest held line lost its beginning to a drop
}

func newRing(size int) *ring {
	return &ring{buf: make([]byte, size)}
}

// Write always succeeds: what does not fit pushes out the oldest bytes.
func (r *ring) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	written := len(p)
	size := len(r.buf)
	if size == 0 {
		return written, nil
	}
	if len(p) >= size {
		last := byte('\n') // the last byte dropped decides whether a line is cut
		if len(p) > size {
			last = p[len(p)-size-1]
		} else if r.n > 0 {
			last = r.buf[(r.start+r.n-1)%size]
		}
		copy(r.buf, p[len(p)-size:])
		r.start, r.n, r.cut = 0, size, last != '\n'
		return written, nil
	}
	if drop := r.n + len(p) - size; drop > 0 {
		r.cut = r.buf[(r.start+drop-1)%size] != '\n'
		r.start = (r.start + drop) % size
		r.n -= drop
	}
	end := (r.start + r.n) % size
	c := copy(r.buf[end:], p)
	copy(r.buf, p[c:])
	r.n += len(p)
	return written, nil
}

// Bytes returns a copy of what the ring holds, starting at the first whole
// line: a reader never sees the tail of a line whose start was dropped.
func (r *ring) Bytes() []byte {
	r.mu.Lock()
	out := make([]byte, 0, r.n)
	if end := r.start + r.n; end <= len(r.buf) {
		out = append(out, r.buf[r.start:end]...)
	} else {
		out = append(out, r.buf[r.start:]...)
		out = append(out, r.buf[:end-len(r.buf)]...)
	}
	cut := r.cut
	r.mu.Unlock()
	if cut {
		if i := bytes.IndexByte(out, '\n'); i >= 0 {
			out = out[i+1:]
		}
	}
	return out
}

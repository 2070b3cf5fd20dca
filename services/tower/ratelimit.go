package tower

import (
	"net"
	"net/http"
	"sync"
	"time"
)

// limiter is a token bucket per source address for the unauthenticated
// enrollment endpoints: each source may send burst requests at once and
// rate a second after that. Boxes behind one NAT share a source, so the
// defaults leave room for a shop's worth of boxes booting together (each
// enrollment attempt is two requests, retried every pendingRetry).
//
// The table of sources is bounded: when it holds maxSources, buckets full
// again (idle sources) are dropped, and if none is, the new source is
// refused like a limited one, so a flood from many addresses costs memory
// in proportion to maxSources, not to the flood.
type limiter struct {
	rate       float64
	burst      float64
	maxSources int
	now        func() time.Time

	mu      sync.Mutex
	sources map[string]*bucket
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newLimiter(rate float64, burst, maxSources int, now func() time.Time) *limiter {
	return &limiter{rate: rate, burst: float64(burst), maxSources: maxSources, now: now, sources: map[string]*bucket{}}
}

// allow takes a token for source, or says how long until one is there.
func (l *limiter) allow(source string) (bool, time.Duration) {
	if l == nil || l.rate <= 0 {
		return true, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	b := l.sources[source]
	if b == nil {
		if len(l.sources) >= l.maxSources && !l.sweep(now) {
			return false, time.Second
		}
		b = &bucket{tokens: l.burst, last: now}
		l.sources[source] = b
	}
	b.tokens = min(l.burst, b.tokens+now.Sub(b.last).Seconds()*l.rate)
	b.last = now
	if b.tokens < 1 {
		return false, time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
	}
	b.tokens--
	return true, 0
}

// sweep drops sources whose bucket is full again; it reports whether it
// freed any.
func (l *limiter) sweep(now time.Time) bool {
	freed := false
	for k, b := range l.sources {
		if b.tokens+now.Sub(b.last).Seconds()*l.rate >= l.burst {
			delete(l.sources, k)
			freed = true
		}
	}
	return freed
}

// source is the address a request came from, without its port. The tower
// serves sites directly; behind a proxy this would be the proxy's.
func source(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

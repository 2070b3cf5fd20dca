package uplink

import (
	"sync"
	"time"
)

// Bounds of the retransmission timeout. RFC 6298 asks for at least 1 s;
// like Linux we take SRTT plus at least 200 ms: the timer is the fallback
// (a batch an answer to a later one leaves out is sent at once), and it
// must outlast a lost answer and the one after it, which comes with the
// next batches to arrive.
const (
	minRTO     = 200 * time.Millisecond
	maxRTO     = 60 * time.Second
	initialRTO = time.Second
	clockG     = time.Millisecond
)

// rttEstimator is RFC 6298's: a smoothed RTT and its variation from each
// answer's echoed stamp, and the retransmission timeout from both, backed
// off (doubled) on each timeout until the next sample.
type rttEstimator struct {
	mu           sync.Mutex
	srtt, rttvar time.Duration
	rto          time.Duration
	have         bool
}

func newRTTEstimator() *rttEstimator { return &rttEstimator{rto: initialRTO} }

func (e *rttEstimator) sample(m time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.have {
		e.srtt, e.rttvar, e.have = m, m/2, true
	} else {
		d := e.srtt - m
		if d < 0 {
			d = -d
		}
		e.rttvar = (3*e.rttvar + d) / 4
		e.srtt = (7*e.srtt + m) / 8
	}
	e.rto = min(e.srtt+max(clockG, 4*e.rttvar, minRTO), maxRTO)
}

// backoff doubles the timeout after a retransmission by timer.
func (e *rttEstimator) backoff() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.rto = min(2*e.rto, maxRTO)
}

func (e *rttEstimator) get() (rto, srtt time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.rto, e.srtt
}

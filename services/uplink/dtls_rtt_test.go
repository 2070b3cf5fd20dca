package uplink

import (
	"testing"
	"time"
)

func TestRTTEstimator(t *testing.T) {
	e := newRTTEstimator()
	if rto, _ := e.get(); rto != initialRTO {
		t.Errorf("initial RTO: got %v, want %v", rto, initialRTO)
	}
	// RFC 6298 2.2: first sample R: SRTT = R, RTTVAR = R/2, RTO = R + 4 R/2.
	e.sample(200 * time.Millisecond)
	if rto, srtt := e.get(); rto != 600*time.Millisecond || srtt != 200*time.Millisecond {
		t.Errorf("after one sample: RTO %v SRTT %v, want 600ms 200ms", rto, srtt)
	}
	// Steady samples shrink RTTVAR towards 0 and the RTO towards SRTT
	// plus the minimum (Linux's rule).
	for range 100 {
		e.sample(200 * time.Millisecond)
	}
	if rto, _ := e.get(); rto != 200*time.Millisecond+minRTO {
		t.Errorf("after steady samples: RTO %v, want %v", rto, 200*time.Millisecond+minRTO)
	}
	// Tiny samples are bounded below; backoff doubles up to the maximum.
	for range 100 {
		e.sample(time.Microsecond)
	}
	if rto, _ := e.get(); rto < minRTO || rto > minRTO+time.Millisecond {
		t.Errorf("loopback RTO: got %v, want about %v", rto, minRTO)
	}
	for range 20 {
		e.backoff()
	}
	if rto, _ := e.get(); rto != maxRTO {
		t.Errorf("backed off RTO: got %v, want %v", rto, maxRTO)
	}
}

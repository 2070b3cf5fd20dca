package supervisor

import (
	"slices"
	"sync"

	"github.com/skerry/skerry/services/contract"
)

// service is one supervised service: its spec, its output ring, the
// channels that order its start and stop, and the status it reports.
type service struct {
	spec       Spec
	ring       *ring
	deps       []*service
	dependants []*service

	// ready is closed the first time the service is ready, and stays
	// closed: dependants wait for it once and are not restarted with it.
	ready     chan struct{}
	readyOnce sync.Once

	wake chan struct{} // cap 1: an operator request (op) is pending
	quit chan struct{} // closed when Run wants it stopped for good
	done chan struct{} // closed when its supervising goroutine returned

	// mu guards the status, which the supervising goroutine writes and
	// Status reads, and the pending op, which Stop and Restart write from
	// any goroutine.
	mu sync.Mutex
	st contract.ServiceStatus
	op op
}

// op is an operator's request, from Stop or Restart. Only the latest pending
// one counts: Stop then Restart before either was handled means Restart.
type op int

const (
	opNone op = iota
	opStop
	opRestart
)

func newService(sp Spec, ringSize int) *service {
	return &service{
		spec:  sp,
		ring:  newRing(ringSize),
		ready: make(chan struct{}),
		wake:  make(chan struct{}, 1),
		quit:  make(chan struct{}),
		done:  make(chan struct{}),
		st: contract.ServiceStatus{
			Name:      sp.Name,
			State:     contract.StateWaiting,
			DependsOn: slices.Clone(sp.DependsOn),
			MemoryMax: sp.MemoryMax,
		},
	}
}

// request records o and wakes the supervising goroutine without blocking:
// an HTTP handler must not wait out a StopTimeout.
func (svc *service) request(o op) {
	svc.mu.Lock()
	svc.op = o
	svc.mu.Unlock()
	select {
	case svc.wake <- struct{}{}:
	default: // already signalled; the op field holds the latest request
	}
}

func (svc *service) takeOp() op {
	svc.mu.Lock()
	defer svc.mu.Unlock()
	o := svc.op
	svc.op = opNone
	return o
}

func (svc *service) update(f func(st *contract.ServiceStatus)) {
	svc.mu.Lock()
	defer svc.mu.Unlock()
	f(&svc.st)
}

func (svc *service) status() contract.ServiceStatus {
	svc.mu.Lock()
	defer svc.mu.Unlock()
	st := svc.st
	st.DependsOn = slices.Clone(st.DependsOn)
	return st
}

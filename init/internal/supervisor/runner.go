package supervisor

import (
	"time"

	"github.com/skerry/skerry/services/contract"
)

// why a run of a service's process ended.
type endReason int

const (
	endedOnItsOwn  endReason = iota
	endedByStop              // operator's Stop
	endedByRestart           // operator's Restart
	endedByQuit              // Run is shutting down
)

// supervise is the life of one service: wait for its dependencies, then
// start, watch and restart it until Run closes svc.quit.
func (s *Supervisor) supervise(svc *service) {
	defer close(svc.done)
	log := s.cfg.log.With("service", svc.spec.Name)
	for _, d := range svc.deps {
		select {
		case <-d.ready:
		case <-svc.quit:
			svc.update(func(st *contract.ServiceStatus) { st.State = contract.StateStopped })
			return
		}
	}
	// A Stop that arrived while it waited keeps it from starting.
	if svc.takeOp() == opStop && !s.stayStopped(svc) {
		return
	}
	b := s.cfg.backoff
	// delay is the wait before the next restart after a failure. It is
	// reset by a stable run and by anything an operator does, since those
	// say nothing about a crash loop.
	delay := b.Min
	for {
		r, err := s.startProcess(svc)
		if err != nil {
			log.Error("start service", "err", err, "retry", delay)
			svc.update(func(st *contract.ServiceStatus) {
				st.State, st.PID, st.LastExit = contract.StateFailed, 0, err.Error()
			})
		} else {
			log.Info("service started", "pid", r.proc.pid)
			why := s.watch(svc, r)
			s.cleanup(svc, r)
			exit := exitString(r.proc.status)
			ran := s.cfg.clock.Now().Sub(r.startedAt)
			log.Info("service exited", "pid", r.proc.pid, "status", exit, "ran", ran.Round(time.Millisecond))
			svc.update(func(st *contract.ServiceStatus) { st.PID, st.LastExit = 0, exit })
			switch {
			case why == endedByQuit:
				svc.update(func(st *contract.ServiceStatus) { st.State = contract.StateStopped })
				return
			case why == endedByRestart:
				// Straight back to the top: a requested restart is not a
				// failure and gets no backoff.
				delay = b.Min
				continue
			case why == endedByStop || r.proc.status.Exited() && r.proc.status.ExitStatus() == contract.ExitDoNotRestart:
				if !s.stayStopped(svc) {
					return
				}
				delay = b.Min
				continue
			}
			// A service that crashes once a day should come back fast, not
			// after the 30s it reached in last week's crash loop.
			if ran >= b.Stable {
				delay = b.Min
			}
			log.Info("restarting service", "in", delay)
			svc.update(func(st *contract.ServiceStatus) { st.State = contract.StateBackoff })
		}
		switch s.pause(svc, delay) {
		case endedByQuit:
			svc.update(func(st *contract.ServiceStatus) { st.State = contract.StateStopped })
			return
		case endedByStop:
			if !s.stayStopped(svc) {
				return
			}
			delay = b.Min
			continue
		}
		// Counted when the restart happens, so a Stop during the backoff
		// does not show a restart that never was.
		svc.update(func(st *contract.ServiceStatus) { st.Restarts++ })
		delay = b.next(delay)
	}
}

// pause waits out a backoff delay. It returns endedOnItsOwn when the delay
// passed or Restart cut it short, or the reason it was interrupted.
func (s *Supervisor) pause(svc *service, d time.Duration) endReason {
	t := s.cfg.clock.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case <-t.C():
			return endedOnItsOwn
		case <-svc.quit:
			return endedByQuit
		case <-svc.wake:
			// Restart during a backoff means "try now".
			switch svc.takeOp() {
			case opStop:
				return endedByStop
			case opRestart:
				return endedOnItsOwn
			}
		}
	}
}

// stayStopped holds a stopped service until Restart (true) or until Run
// shuts down (false).
func (s *Supervisor) stayStopped(svc *service) bool {
	svc.update(func(st *contract.ServiceStatus) { st.State, st.PID = contract.StateStopped, 0 })
	for {
		select {
		case <-svc.quit:
			return false
		case <-svc.wake:
			// Stop on a stopped service has nothing to do.
			if svc.takeOp() == opRestart {
				return true
			}
		}
	}
}

// watch follows one run of the process until it exits, marking the service
// ready when it says so and stopping it when asked.
func (s *Supervisor) watch(svc *service, r *run) endReason {
	ready := r.ready.ready
	for {
		select {
		case <-ready:
			ready = nil // a nil channel never fires again: ready once per run
			s.markReady(svc)
		case <-r.proc.exited:
			return endedOnItsOwn
		case <-svc.wake:
			switch svc.takeOp() {
			case opStop:
				s.terminate(svc, r)
				return endedByStop
			case opRestart:
				s.terminate(svc, r)
				return endedByRestart
			}
		case <-svc.quit:
			s.terminate(svc, r)
			return endedByQuit
		}
	}
}

// markReady records that the service's current run is ready. The first time
// also releases its dependants and counts towards AllReady.
func (s *Supervisor) markReady(svc *service) {
	svc.update(func(st *contract.ServiceStatus) {
		// After an exit (a READY read late, in cleanup) the state is about
		// to become backoff or stopped; do not flash running.
		if st.State == contract.StateStarting {
			st.State = contract.StateRunning
		}
	})
	svc.readyOnce.Do(func() {
		s.cfg.log.Info("service ready", "service", svc.spec.Name)
		close(svc.ready)
		s.oneReady()
	})
}

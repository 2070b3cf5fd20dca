package supervisor

import (
	"bufio"
	"os"
	"time"

	"github.com/skerry/skerry/services/contract"
)

// pathPoll is how often a Spec.ReadyPath is checked. Polling one stat is cheaper
// and simpler than inotify on a directory that may not exist yet.
const pathPoll = 20 * time.Millisecond

// readiness watches one run for its ready signal.
type readiness struct {
	ready <-chan struct{} // closed when the run said it is ready
	// finish ends the watch after the process exited and reports whether
	// the run was ready by then.
	finish func() bool
}

func closed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

func readyNow() readiness {
	c := make(chan struct{})
	close(c)
	return readiness{ready: c, finish: func() bool { return true }}
}

// watchNotify reads the ready pipe until the line READY or EOF.
func watchNotify(f *os.File) readiness {
	ready, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if sc.Text() == contract.ReadyWord {
				close(ready)
				return
			}
		}
	}()
	// After the exit, the pipe reaches EOF once the killed group is gone;
	// reading to it (bounded) catches a READY written just before exiting,
	// which a one-shot service that exits 125 relies on.
	return readiness{ready: ready, finish: func() bool {
		waitOrClose(done, f)
		return closed(ready)
	}}
}

// watchPath polls until path exists.
func watchPath(path string) readiness {
	ready, stop, done := make(chan struct{}), make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(pathPoll)
		defer t.Stop()
		for {
			if _, err := os.Stat(path); err == nil {
				close(ready)
				return
			}
			select {
			case <-t.C:
			case <-stop:
				return
			}
		}
	}()
	return readiness{ready: ready, finish: func() bool {
		close(stop)
		<-done
		return closed(ready)
	}}
}

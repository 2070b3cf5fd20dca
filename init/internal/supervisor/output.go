package supervisor

import (
	"bufio"
	"bytes"
	"errors"
	"os"
)

// maxLine is where an endless line is split, so that one service cannot
// make the supervisor buffer without bound.
const maxLine = 4 << 10

// capture copies a run's output into the ring and the sink, line by line,
// until EOF. The returned channel is closed at EOF. Lines, not raw reads,
// so the sink can make one log record of each and the ring trims at line
// boundaries.
func (s *Supervisor) capture(svc *service, f *os.File) chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer f.Close()
		br := bufio.NewReaderSize(f, maxLine)
		for {
			chunk, err := br.ReadSlice('\n')
			if len(chunk) > 0 {
				// One fresh slice per line: the ring gets it whole in one
				// write and the sink may keep it.
				line := make([]byte, 0, len(chunk)+1)
				line = append(append(line, bytes.TrimSuffix(chunk, []byte("\n"))...), '\n')
				svc.ring.Write(line)
				if s.cfg.sink != nil {
					s.cfg.sink(svc.spec.Name, line[:len(line)-1])
				}
			}
			if err != nil && !errors.Is(err, bufio.ErrBufferFull) {
				return
			}
		}
	}()
	return done
}

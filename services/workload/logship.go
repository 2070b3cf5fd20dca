package workload

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"golang.org/x/sys/unix"

	"github.com/skerry/skerry/services/streamlog/client"
	"github.com/skerry/skerry/services/streamlog/wire"
)

// LogTopic is the stream log topic of an app's output: the tenant's
// app.<name>.log.
func LogTopic(tenant, name string) string { return tenant + "/app." + name + ".log" }

// HeaderLogEnd is the header on the last record of each batch the runner
// appends to an app's log topic: the byte offset in the app's log file
// just past that batch. The next runner resumes from it.
const HeaderLogEnd = "log.end"

// Bounds of the log shipping.
const (
	logChunk      = 64 << 10 // read from the file at a time (the memory per app)
	logMaxLine    = 16 << 10 // a longer line is cut into records of this size
	logMaxBacklog = 8 << 20  // unshipped bytes beyond this are dropped, with a record saying so
	logPoll       = 250 * time.Millisecond
	logTopicBytes = 4 << 20 // retention of a new log topic (drop-oldest)
)

// shipper copies an app's log file (written by containerd's shim, which
// goes on writing while the service is away) into the app's topic. The
// file offset shipped so far travels in the records themselves
// (HeaderLogEnd), in the same atomic append, so a restart neither loses
// nor repeats a line; shipped whole blocks are punched out of the file, so
// it holds on disk only what is not shipped yet.
type shipper struct {
	c     *client.Client
	topic string
	path  string
	log   func(msg string, args ...any)

	pos     int64 // file offset shipped up to
	punched int64 // file offset below which blocks are freed
	partial int   // bytes of an unterminated last line seen at the last poll
}

// run ships until ctx ends, then ships what is complete and returns.
func (s *shipper) run(ctx context.Context) {
	synced := false
	wait := logPoll
	for {
		var err error
		if !synced {
			err = s.sync(ctx)
			synced = err == nil
		}
		more := false
		if synced {
			more, err = s.ship(ctx, ctx.Err() != nil)
			if err != nil {
				// The ack may have been lost after the append was stored:
				// learn where the topic is before sending again.
				synced = false
			}
		}
		if err != nil && ctx.Err() == nil {
			s.log("ship app log", "topic", s.topic, "err", err)
			wait = min(2*wait, 10*time.Second)
		} else {
			wait = logPoll
		}
		if ctx.Err() != nil {
			return
		}
		if !more {
			select {
			case <-ctx.Done():
				// One last pass, bounded, for the lines written before the stop.
				fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
				if synced || s.sync(fctx) == nil {
					for more, err := true, error(nil); more && err == nil; {
						more, err = s.ship(fctx, true)
					}
				}
				cancel()
				return
			case <-time.After(wait):
			}
		}
	}
}

// sync creates the topic if needed and reads the shipped offset from its
// last record.
func (s *shipper) sync(ctx context.Context) error {
	info, err := s.c.Topic(ctx, s.topic)
	if errors.Is(err, wire.ErrTopicNotFound) {
		info, err = s.c.CreateTopic(ctx, s.topic, wire.TopicConfig{MaxBytes: logTopicBytes})
		if errors.Is(err, wire.ErrTopicExists) {
			info, err = s.c.Topic(ctx, s.topic)
		}
	}
	if err != nil {
		return err
	}
	s.pos = 0
	if info.Next > info.Start {
		recs, err := s.c.Read(ctx, s.topic, client.From{Offset: info.Next - 1}, 1)
		if err != nil {
			return err
		}
		for _, r := range recs {
			for _, h := range r.Headers {
				if h.Key == HeaderLogEnd {
					s.pos, _ = strconv.ParseInt(string(h.Value), 10, 64)
				}
			}
		}
	}
	s.punched = s.pos &^ 4095
	return nil
}

// ship appends one chunk of complete lines (an unterminated last line
// too, when it did not grow since the last poll or when flush is set);
// more says whether the file holds more.
func (s *shipper) ship(ctx context.Context, flush bool) (more bool, err error) {
	f, err := os.OpenFile(s.path, os.O_RDWR, 0) // writable: to punch holes
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return false, err
	}
	size := fi.Size()
	var recs []wire.Record
	if size < s.pos {
		// A new file (removed by hand): start over from its beginning.
		s.pos, s.punched = 0, 0
	}
	if size-s.pos > logMaxBacklog {
		skip := size - s.pos - logMaxBacklog/2
		recs = append(recs, wire.Record{Value: fmt.Appendf(nil, "skerry: %d bytes of output dropped: the stream log did not keep up", skip)})
		s.pos += skip
	}
	buf := make([]byte, min(logChunk, size-s.pos))
	n, err := f.ReadAt(buf, s.pos)
	if err != nil && err != io.EOF {
		return false, err
	}
	buf = buf[:n]
	used := 0
	for used < len(buf) {
		rest := buf[used:]
		i := bytes.IndexByte(rest, '\n')
		switch {
		case i >= 0 && i <= logMaxLine:
			recs = append(recs, wire.Record{Value: rest[:i]})
			used += i + 1
			continue
		case len(rest) >= logMaxLine:
			recs = append(recs, wire.Record{Value: rest[:logMaxLine]})
			used += logMaxLine
			continue
		case flush || (len(rest) == s.partial && s.pos+int64(len(buf)) == size):
			recs = append(recs, wire.Record{Value: rest})
			used += len(rest)
			continue
		}
		break
	}
	s.partial = len(buf) - used
	if len(recs) == 0 {
		return false, nil
	}
	end := s.pos + int64(used)
	last := &recs[len(recs)-1]
	last.Headers = []wire.Header{{Key: HeaderLogEnd, Value: strconv.AppendInt(nil, end, 10)}}
	if _, err := s.c.Append(ctx, s.topic, "", 0, recs); err != nil {
		return false, err
	}
	s.pos = end
	s.partial = 0
	// Free the shipped whole blocks; the file keeps its size and offsets.
	if to := s.pos &^ 4095; to > s.punched {
		if err := unix.Fallocate(int(f.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, s.punched, to-s.punched); err == nil {
			s.punched = to
		}
	}
	return s.pos < size, nil
}

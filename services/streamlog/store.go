package streamlog

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"
)

// Store is an open stream log in one data directory.
type Store struct {
	dir    string
	segDir string
	o      options
	meta   *bolt.DB

	mu     sync.RWMutex
	topics map[string]*topic // by full name, under mu
	byID   map[uint64]*topic // under mu
	segs   []*segment        // oldest first; the last is active; under mu

	reqs      chan *appendReq
	quit      chan struct{}
	done      chan struct{} // closed when the writer has stopped
	closeOnce sync.Once

	// nextc hands the writer a segment prepared in the background.
	nextc chan *segment
	bg    sync.WaitGroup // background segment preparation and removal

	// Writer-only state.
	job       *compactJob
	preparing bool
	needInit  bool // the active segment still lacks its first commit
	// diskFull is set while commits fail for lack of space.
	diskFull atomic.Bool
	commits  commitStats
}

// Open opens (creating if needed) the log in dir and recovers it: a segment
// whose first commit never finished is removed, topic states come from the
// newest segment, and segments retention emptied are dropped.
func Open(dir string, opts ...Option) (*Store, error) {
	o := defaultOptions()
	for _, f := range opts {
		f(&o)
	}
	s := &Store{
		dir: dir, segDir: filepath.Join(dir, "segments"), o: o,
		topics: map[string]*topic{}, byID: map[uint64]*topic{},
		reqs: make(chan *appendReq, 256), quit: make(chan struct{}), done: make(chan struct{}),
		nextc: make(chan *segment, 1),
	}
	if err := os.MkdirAll(s.segDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	meta, err := bolt.Open(filepath.Join(dir, "meta.db"), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		if errors.Is(err, bolterrors.ErrTimeout) {
			return nil, fmt.Errorf("open %s: %w", dir, ErrDataDirInUse)
		}
		return nil, fmt.Errorf("open meta: %w", err)
	}
	s.meta = meta
	if err := s.load(); err != nil {
		s.closeFiles()
		return nil, err
	}
	go s.writer()
	return s, nil
}

// load reads topics from meta.db and opens the segments.
func (s *Store) load() error {
	if err := s.loadTopics(); err != nil {
		return err
	}
	ids, err := listSegments(s.segDir)
	if err != nil {
		return err
	}
	// The newest initialized segment holds the topic states; a newer file
	// whose first commit did not finish was being created when the process
	// died. Everything is opened read-only first: opening a bbolt file for
	// writing without a stored freelist scans all of it.
	var newest *segment
	for len(ids) > 0 {
		id := ids[len(ids)-1]
		seg, ok, err := openSegment(s.segDir, id, true)
		if err != nil {
			return err
		}
		if ok {
			newest = seg
			break
		}
		s.o.log.Warn("removing unfinished segment", "path", seg.path)
		if err := seg.remove(); err != nil {
			return err
		}
		ids = ids[:len(ids)-1]
	}
	if len(ids) == 0 {
		return s.initFirst()
	}
	for _, id := range ids[:len(ids)-1] {
		seg, ok, err := openSegment(s.segDir, id, true)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("open segment %s: %w: sealed segment lacks its init mark", seg.path, errCorrupt)
		}
		s.segs = append(s.segs, seg)
	}
	if err := s.loadState(newest); err != nil {
		return err
	}
	// A small newest file goes on as the active one; a large one stays
	// sealed and a fresh file takes over, initialized by the first commit.
	// On a full disk there is no room for a fresh file: the newest goes on
	// as the active one whatever its size (opening it for writing scans
	// it, which costs milliseconds at segment sizes), appends are refused
	// with ErrDiskFull until space returns, and reads, retention and
	// deletes go on; rotation happens by itself once there is room.
	if newest.size >= s.o.segmentBytes/4 {
		seg, err := newEmptySegment(s.segDir, newest.id+1, s.o.allocSize)
		switch {
		case err == nil:
			s.segs = append(s.segs, newest, seg)
			s.needInit = true
			s.dropDead()
			return nil
		case !errors.Is(err, ErrDiskFull):
			return err
		}
		s.o.log.Error("disk full at start: refusing appends until space returns", "err", err)
		s.diskFull.Store(true)
	}
	newest.db.Close()
	seg, _, err := openSegment(s.segDir, newest.id, false)
	if err != nil {
		return err
	}
	seg.db.AllocSize = s.o.allocSize
	s.segs = append(s.segs, seg)
	s.dropDead()
	return nil
}

// loadState restores topic states and producers from the active segment.
func (s *Store) loadState(seg *segment) error {
	return seg.db.View(func(tx *bolt.Tx) error {
		err := tx.Bucket(bktState).ForEach(func(k, v []byte) error {
			st, ok := decodeState(v)
			if len(k) != 8 || !ok {
				return fmt.Errorf("load topic state: %w", errCorrupt)
			}
			if t := s.segTopic(be64(k)); t != nil {
				t.st = st
			}
			return nil
		})
		if err != nil {
			return err
		}
		return tx.Bucket(bktProducers).ForEach(func(k, v []byte) error {
			if len(k) < 8 {
				return fmt.Errorf("load producer: %w", errCorrupt)
			}
			t := s.segTopic(be64(k))
			if t == nil {
				return nil
			}
			p, err := decodeProducer(v)
			if err != nil {
				return err
			}
			t.producers[string(k[8:])] = p
			return nil
		})
	})
}

// Close stops the writer, failing appends still queued with ErrClosed, and
// closes the files. It waits for reads in progress.
func (s *Store) Close() error {
	var err error
	s.closeOnce.Do(func() {
		close(s.quit)
		<-s.done
		s.bg.Wait()
		select {
		case seg := <-s.nextc: // prepared, never used: it has no init mark
			if seg != nil {
				seg.remove()
			}
		default:
		}
		err = s.closeFiles()
	})
	return err
}

func (s *Store) closeFiles() error {
	var errs []error
	s.mu.Lock()
	segs := s.segs
	s.segs = nil
	s.mu.Unlock()
	for _, seg := range segs {
		errs = append(errs, seg.db.Close())
	}
	errs = append(errs, s.meta.Close())
	return errors.Join(errs...)
}

func (s *Store) active() *segment {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.segs[len(s.segs)-1]
}

func (s *Store) closed() bool {
	select {
	case <-s.quit:
		return true
	default:
		return false
	}
}

// DiskFull reports whether the last commit failed for lack of disk space.
func (s *Store) DiskFull() bool { return s.diskFull.Load() }

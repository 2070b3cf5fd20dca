package streamlog

// withBeforeCommit injects a failure before each commit.
func withBeforeCommit(f func() error) Option { return func(o *options) { o.beforeCommit = f } }

// segmentCount is the number of segment files open.
func (s *Store) segmentCount() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.segs)
}

// segmentRange returns the id of the oldest open segment and how many are
// open.
func (s *Store) segmentRange() (oldest uint64, n int) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.segs[0].id, len(s.segs)
}

// activeID is the id of the active segment: ids count every segment made.
func (s *Store) activeID() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.segs[len(s.segs)-1].id
}

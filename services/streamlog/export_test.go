package streamlog

// withBeforeCommit injects a failure before each commit.
func withBeforeCommit(f func() error) Option { return func(o *options) { o.beforeCommit = f } }

// segmentCount is the number of segment files open.
func (s *Store) segmentCount() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.segs)
}

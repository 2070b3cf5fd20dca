package streamlog

import (
	"math"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// topicStats counts a topic's traffic. Counters are atomics touched on
// every append and read; rates are exponentially weighted averages that
// the writer updates once a tick.
type topicStats struct {
	appRecs, appBytes, readRecs, readBytes atomic.Uint64

	mu    sync.Mutex
	last  [4]uint64
	rates [4]float64
	at    time.Time
}

func (ts *topicStats) appended(n int, b Batch) {
	var size int
	for i := range b.Records {
		size += b.Records[i].Size()
	}
	ts.appRecs.Add(uint64(n))
	ts.appBytes.Add(uint64(size))
}

func (ts *topicStats) read(recs []Record) {
	var size int
	for i := range recs {
		size += recs[i].Size()
	}
	ts.readRecs.Add(uint64(len(recs)))
	ts.readBytes.Add(uint64(size))
}

// rateWindow is the time constant of the rates.
const rateWindow = 10 * time.Second

func (ts *topicStats) sample(now time.Time) {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	cur := [4]uint64{ts.appRecs.Load(), ts.appBytes.Load(), ts.readRecs.Load(), ts.readBytes.Load()}
	if !ts.at.IsZero() {
		dt := now.Sub(ts.at).Seconds()
		if dt > 0 {
			alpha := 1 - math.Exp(-dt/rateWindow.Seconds())
			for i := range cur {
				inst := float64(cur[i]-ts.last[i]) / dt
				ts.rates[i] += alpha * (inst - ts.rates[i])
			}
		}
	}
	ts.last, ts.at = cur, now
}

func (s *Store) sample() {
	now := s.o.now()
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, t := range s.byID {
		t.stats.sample(now)
	}
}

// TopicStats is a topic's traffic and its consumers' lag.
type TopicStats struct {
	TopicInfo
	AppendedRecords, AppendedBytes uint64
	ReadRecords, ReadBytes         uint64
	// Per second, averaged over about ten seconds.
	AppendRecordsRate, AppendBytesRate float64
	ReadRecordsRate, ReadBytesRate     float64
	Cursors                            []CursorLag
}

// CursorLag is a consumer's position and how far behind the end it is.
type CursorLag struct {
	Consumer string
	Offset   uint64
	Lag      uint64
}

// Stats is the store's status.
type Stats struct {
	Topics    []TopicStats
	Segments  int
	DiskBytes int64 // segment files and meta.db
	DiskFull  bool  // the last commit failed for lack of space
	Commits   CommitHistogram
}

// Stats returns the status of the topics of one tenant, or of all when
// tenant is empty. Segment and disk figures are global; the API shows them
// to the system tenant only.
func (s *Store) Stats(tenant string) (Stats, error) {
	if s.closed() {
		return Stats{}, ErrClosed
	}
	var st Stats
	s.mu.RLock()
	var ts []*topic
	for _, t := range s.topics {
		if tenant == "" || t.name.Tenant == tenant {
			ts = append(ts, t)
		}
	}
	st.Segments = len(s.segs)
	for _, seg := range s.segs {
		if fi, err := os.Stat(seg.path); err == nil {
			st.DiskBytes += fi.Size()
		}
	}
	s.mu.RUnlock()
	if fi, err := os.Stat(s.meta.Path()); err == nil {
		st.DiskBytes += fi.Size()
	}
	st.DiskFull = s.DiskFull()
	st.Commits = s.commits.snapshot()
	for _, t := range ts {
		x := TopicStats{TopicInfo: s.info(t)}
		x.AppendedRecords, x.AppendedBytes = t.stats.appRecs.Load(), t.stats.appBytes.Load()
		x.ReadRecords, x.ReadBytes = t.stats.readRecs.Load(), t.stats.readBytes.Load()
		t.stats.mu.Lock()
		x.AppendRecordsRate, x.AppendBytesRate, x.ReadRecordsRate, x.ReadBytesRate = t.stats.rates[0], t.stats.rates[1], t.stats.rates[2], t.stats.rates[3]
		t.stats.mu.Unlock()
		cs, err := s.cursors(t.id)
		if err != nil {
			return st, err
		}
		for _, c := range cs {
			lag := uint64(0)
			if x.Next > c.Offset {
				lag = x.Next - c.Offset
			}
			x.Cursors = append(x.Cursors, CursorLag{c.Consumer, c.Offset, lag})
		}
		st.Topics = append(st.Topics, x)
	}
	sort.Slice(st.Topics, func(i, j int) bool { return st.Topics[i].Name.String() < st.Topics[j].Name.String() })
	return st, nil
}

func sortInfos(ts []TopicInfo) {
	sort.Slice(ts, func(i, j int) bool { return ts[i].Name.String() < ts[j].Name.String() })
}

package streamlog

import (
	"sync/atomic"
	"time"
)

// CommitBuckets are the upper bounds of the commit-duration histogram.
var CommitBuckets = []time.Duration{
	time.Millisecond / 2, time.Millisecond, 2 * time.Millisecond, 5 * time.Millisecond,
	10 * time.Millisecond, 20 * time.Millisecond, 50 * time.Millisecond,
	100 * time.Millisecond, 200 * time.Millisecond, 500 * time.Millisecond,
}

// commitStats is a histogram of group-commit durations (write and fsync of
// the active segment): the floor of every persistent acknowledgement.
type commitStats struct {
	counts  [11]atomic.Uint64 // len(CommitBuckets) + the overflow bucket
	sumNs   atomic.Int64
	records atomic.Uint64
}

func (c *commitStats) observe(d time.Duration, records int) {
	i := 0
	for i < len(CommitBuckets) && d > CommitBuckets[i] {
		i++
	}
	c.counts[i].Add(1)
	c.sumNs.Add(int64(d))
	c.records.Add(uint64(records))
}

// CommitHistogram is a snapshot of the commit-duration histogram: Counts[i]
// commits took at most CommitBuckets[i] (not cumulative); the last entry
// counts the slower ones.
type CommitHistogram struct {
	Counts  []uint64
	Sum     time.Duration
	Records uint64 // records acknowledged by these commits
}

func (c *commitStats) snapshot() CommitHistogram {
	h := CommitHistogram{Sum: time.Duration(c.sumNs.Load()), Records: c.records.Load()}
	for i := range c.counts {
		h.Counts = append(h.Counts, c.counts[i].Load())
	}
	return h
}

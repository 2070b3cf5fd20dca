package hub

import (
	"cmp"
	"context"
	"io"
	"slices"
	"time"

	"github.com/skerry/skerry/services/api/uplinkapi"
	"github.com/skerry/skerry/services/streamlog/wire"
)

// dtlsItem is one batch datagram as it arrived.
type dtlsItem struct {
	stamp   uint64
	sack    bool // its sender reads held ranges (uplinkapi.ReadsSACK)
	b       uplinkapi.Batch
	storing bool // in the run being stored
}

func (it *dtlsItem) first() uint64 { return it.b.Records[0].Offset }
func (it *dtlsItem) last() uint64  { return it.b.Records[len(it.b.Records)-1].Offset }

// dtlsTopic stores one site topic's batches of one DTLS session. Batches
// arrive out of order and several at a time (a window is in flight): it
// holds those past the high-water mark in memory until the hole before
// them is filled, and stores the contiguous run that is ready with one
// Apply (one fsync) while more arrive, so a window costs a few commits,
// not one per datagram. Only contiguous records are stored, and only a
// stored record moves the mark. It answers after each store and, every
// dtlsLinger while batches arrive, with the mark and the ranges it holds
// past it (those being stored too), so the site sends again only what is
// missing and does not wait for an fsync to learn what arrived.
type dtlsTopic struct {
	name   string
	in     chan *dtlsItem
	held   []*dtlsItem // by first offset
	newest uint64      // stamp of the latest arrival
	sack   bool        // the latest arrival's sender reads held ranges
	fresh  int         // arrivals since the last answer
	next   uint64      // the receiver's high-water mark, when known
	known  bool
	busy   bool          // a run is being stored
	sum    uplinkapi.Ack // what the stores since the last answer did
	buf    []byte
}

// Bounds of what a topic holds back and stores at once.
const (
	dtlsMaxPending = uplinkapi.HeldBatches
	dtlsMaxRun     = 8192
	dtlsLinger     = 2 * time.Millisecond
)

func (t *dtlsTopic) run(ctx context.Context, recv *Receiver, w io.Writer) {
	done := make(chan uplinkapi.Ack, 1) // the store's answer
	linger := time.NewTimer(time.Hour)
	linger.Stop()
	var lingering <-chan time.Time
	for {
		stored := false
		select {
		case it := <-t.in:
			t.add(it)
			// A window arrives as a burst of datagrams microseconds
			// apart: wait a little for the rest of it, so that one
			// store and one answer cover many datagrams, not one.
			if t.fresh < dtlsMaxPending/2 {
				if lingering == nil {
					linger.Reset(dtlsLinger)
					lingering = linger.C
				}
				continue
			}
			linger.Stop()
			lingering = nil
		case <-lingering:
			lingering = nil
		case ack := <-done:
			t.busy, stored = false, true
			if !t.stored(ack) {
				t.answer(w, ack) // refused or retry, as it is
				stored = false
			}
		case <-ctx.Done():
			return
		}
		// Store at the end of a burst (or when nothing arrives): one
		// fsync for the whole burst, not for what came during the last.
		if !t.busy && lingering == nil {
			t.store(recv, done)
		}
		// An older uplink ("SKD1") reads no ranges: a mark that stops at
		// a batch being stored would have it send the batch again.
		if stored || lingering == nil && t.fresh > 0 && (t.sack || !t.busy) {
			t.reply(w)
		}
	}
}

// add holds it in order of first offset. A batch with the first offset of
// a held one replaces it if it reaches further (the uplink cut its records
// anew after a restart) and the held one is not being stored, else it is
// a copy.
func (t *dtlsTopic) add(it *dtlsItem) {
	t.newest, t.sack = it.stamp, it.sack
	t.fresh++
	i, found := slices.BinarySearchFunc(t.held, it.first(), func(h *dtlsItem, off uint64) int {
		return cmp.Compare(h.first(), off)
	})
	switch {
	case found:
		if it.last() > t.held[i].last() && !t.held[i].storing {
			t.held[i] = it
		}
		return
	case len(t.held) < dtlsMaxPending:
	case i == len(t.held) || t.held[len(t.held)-1].storing:
		return // past all that is held, and no room: it comes again
	default:
		t.held = t.held[:len(t.held)-1] // the furthest makes room
	}
	t.held = slices.Insert(t.held, i, it)
}

// store starts storing the contiguous run from the first held batch, if
// there is no hole before it.
func (t *dtlsTopic) store(recv *Receiver, done chan<- uplinkapi.Ack) {
	if len(t.held) == 0 {
		return
	}
	if first := t.held[0]; t.known && first.first() > t.next && first.b.From > t.next {
		return // a hole: wait for it
	}
	run, n := t.merge()
	for _, it := range t.held[:n] {
		it.storing = true
	}
	t.busy = true
	go func() { done <- recv.Apply(&run) }()
}

// stored takes the store's answer: the new mark, and what it stored
// leaves the held batches. It returns false for an answer to pass on as
// it is (refused, retry): the run is dropped, the site holds it or sends
// it again.
func (t *dtlsTopic) stored(ack uplinkapi.Ack) bool {
	switch ack.Status {
	case uplinkapi.StatusStored:
		t.next, t.known = ack.Next, true
		t.held = slices.DeleteFunc(t.held, func(it *dtlsItem) bool { return it.storing || it.last() < t.next })
		t.sum.Stored += ack.Stored
		t.sum.Duplicates += ack.Duplicates
		t.sum.Lost += ack.Lost
		t.sum.Status = uplinkapi.StatusStored
		return true
	case uplinkapi.StatusGap:
		// The hub's mark is behind the run: keep it for when the hole
		// fills.
		t.next, t.known = ack.Next, true
		for _, it := range t.held {
			it.storing = false
		}
		return true
	}
	t.held = slices.DeleteFunc(t.held, func(it *dtlsItem) bool { return it.storing })
	return false
}

// reply answers with the mark, what was stored since the last answer, and
// the ranges held; status gap when nothing was.
func (t *dtlsTopic) reply(w io.Writer) {
	if !t.known {
		return // the first store says where the mark is
	}
	ack := t.sum
	if ack.Status == "" {
		ack.Status = uplinkapi.StatusGap
	}
	ack.Next = t.next
	t.answer(w, ack)
}

// merge joins the contiguous batches from the first held on into one, of
// one epoch, and says how many it took.
func (t *dtlsTopic) merge() (uplinkapi.Batch, int) {
	run := t.held[0].b
	n, end, size := 1, t.held[0].last(), len(run.Records)
	for _, it := range t.held[1:] {
		if it.first() > end+1 || it.b.Epoch != run.Epoch || size >= dtlsMaxRun {
			break
		}
		n++
		size += len(it.b.Records)
		end = max(end, it.last())
	}
	if n == 1 {
		return run, 1
	}
	recs := make([]wire.Record, 0, size)
	for _, it := range t.held[:n] {
		for _, r := range it.b.Records {
			if len(recs) == 0 || r.Offset > recs[len(recs)-1].Offset {
				recs = append(recs, r)
			}
		}
	}
	run.Records = recs
	return run, n
}

// ranges lists the offsets held past the mark.
func (t *dtlsTopic) ranges() []uplinkapi.Range {
	var out []uplinkapi.Range
	for _, it := range t.held {
		first, last := max(it.first(), t.next), it.last()
		if last < first {
			continue
		}
		if k := len(out) - 1; k >= 0 && first <= out[k].Last+1 {
			out[k].Last = max(out[k].Last, last)
			continue
		}
		out = append(out, uplinkapi.Range{First: first, Last: last})
	}
	return out
}

// answer sends ack, stamped with the newest arrival's stamp. A lost answer
// is like a lost batch: the next one says as much, or the site sends again.
func (t *dtlsTopic) answer(w io.Writer, ack uplinkapi.Ack) {
	t.fresh, t.sum = 0, uplinkapi.Ack{}
	if t.sack {
		t.buf = uplinkapi.AppendAckDatagram(t.buf[:0], t.newest, t.name, ack, t.ranges())
	} else {
		t.buf = uplinkapi.AppendAckDatagramV1(t.buf[:0], t.newest, t.name, ack)
	}
	w.Write(t.buf)
}

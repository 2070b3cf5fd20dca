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
	stamp uint64
	sack  bool // its sender reads held ranges (uplinkapi.ReadsSACK)
	b     uplinkapi.Batch
}

func (it *dtlsItem) first() uint64 { return it.b.Records[0].Offset }
func (it *dtlsItem) last() uint64  { return it.b.Records[len(it.b.Records)-1].Offset }

// dtlsTopic stores one site topic's batches of one DTLS session. Batches
// arrive out of order and several at a time (a window is in flight): it
// holds those past the high-water mark in memory until the hole before
// them is filled, stores every contiguous run that is ready with one Apply
// (one fsync), and answers once per round with the mark and the ranges it
// holds past it, so the site sends again only what is missing. Only
// contiguous records are ever stored: what is held is not acknowledged.
type dtlsTopic struct {
	name   string
	in     chan *dtlsItem
	held   []*dtlsItem // by first offset
	newest uint64      // stamp of the latest arrival
	sack   bool        // the latest arrival's sender reads held ranges
	fresh  int         // arrivals since the last answer
	next   uint64      // the receiver's high-water mark, when known
	known  bool
	buf    []byte
}

// Bounds of what a topic holds back and stores at once.
const (
	dtlsMaxPending = 1024
	dtlsMaxRun     = 8192
	dtlsLinger     = 2 * time.Millisecond
)

func (t *dtlsTopic) run(ctx context.Context, recv *Receiver, w io.Writer) {
	for {
		select {
		case it := <-t.in:
			t.add(it)
		case <-ctx.Done():
			return
		}
		// A window arrives as a burst of datagrams microseconds apart:
		// wait a little for the rest of it, so that one append (one
		// transaction, one fsync) stores many datagrams, not one.
		linger := time.NewTimer(dtlsLinger)
	more:
		for t.fresh < dtlsMaxPending/2 {
			select {
			case it := <-t.in:
				t.add(it)
			case <-linger.C:
				break more
			case <-ctx.Done():
				return
			}
		}
		linger.Stop()
		t.flush(recv, w)
	}
}

// add holds it in order of first offset. A batch with the first offset of
// a held one replaces it if it reaches further (the uplink cut its records
// anew after a restart), else it is a copy.
func (t *dtlsTopic) add(it *dtlsItem) {
	t.newest, t.sack = it.stamp, it.sack
	t.fresh++
	i, found := slices.BinarySearchFunc(t.held, it.first(), func(h *dtlsItem, off uint64) int {
		return cmp.Compare(h.first(), off)
	})
	switch {
	case found:
		if it.last() > t.held[i].last() {
			t.held[i] = it
		}
		return
	case len(t.held) < dtlsMaxPending:
	case i == len(t.held):
		return // past all that is held, and no room: it comes again
	default:
		t.held = t.held[:len(t.held)-1] // the furthest makes room
	}
	t.held = slices.Insert(t.held, i, it)
}

// flush stores the contiguous runs that are ready and answers once: the
// high-water mark (a mark that stops at a batch sent before others it
// holds says that batch is missing) and the ranges held past it.
func (t *dtlsTopic) flush(recv *Receiver, w io.Writer) {
	t.fresh = 0
	sum := uplinkapi.Ack{Status: uplinkapi.StatusGap}
	for len(t.held) > 0 {
		if first := t.held[0]; t.known && first.first() > t.next && first.b.From > t.next {
			break // a hole: wait for it
		}
		run, n := t.merge()
		ack := recv.Apply(&run)
		switch ack.Status {
		case uplinkapi.StatusStored:
			t.next, t.known = ack.Next, true
			t.held = t.held[n:]
			t.held = slices.DeleteFunc(t.held, func(it *dtlsItem) bool { return it.last() < t.next })
			sum.Status = uplinkapi.StatusStored
			sum.Stored += ack.Stored
			sum.Duplicates += ack.Duplicates
			sum.Lost += ack.Lost
			continue
		case uplinkapi.StatusGap:
			t.next, t.known = ack.Next, true // keep the run for when the hole fills
		default:
			// Refused or retry: drop the run; the site holds or sends
			// it again.
			t.held = t.held[n:]
			t.answer(w, ack)
			return
		}
		break
	}
	if !t.known {
		return
	}
	sum.Next = t.next
	t.answer(w, sum)
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
	if t.sack {
		t.buf = uplinkapi.AppendAckDatagram(t.buf[:0], t.newest, t.name, ack, t.ranges())
	} else {
		t.buf = uplinkapi.AppendAckDatagramV1(t.buf[:0], t.newest, t.name, ack)
	}
	w.Write(t.buf)
}

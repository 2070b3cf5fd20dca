package hub

import (
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
	b     uplinkapi.Batch
}

func (it dtlsItem) last() uint64 { return it.b.Records[len(it.b.Records)-1].Offset }

// dtlsTopic stores one site topic's batches of one DTLS session. Batches
// arrive out of order and several at a time (a window is in flight): it
// keeps those past the high-water mark until the hole before them is
// filled, and stores every contiguous run that is ready with one Apply
// (one fsync), so a window costs one commit, not one per datagram.
type dtlsTopic struct {
	name    string
	in      chan dtlsItem
	pending map[uint64]dtlsItem // by first offset
	newest  uint64              // stamp of the latest arrival
	next    uint64              // the receiver's high-water mark, when known
	known   bool
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
		for len(t.pending) < dtlsMaxPending/2 {
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

func (t *dtlsTopic) add(it dtlsItem) {
	t.newest = it.stamp
	r0 := it.b.Records[0].Offset
	if t.known && it.last() < t.next {
		// Already stored: answer at once so the site learns it.
		t.pending[r0] = it
		return
	}
	if old, ok := t.pending[r0]; ok && old.last() >= it.last() {
		return
	}
	t.pending[r0] = it
	if len(t.pending) > dtlsMaxPending {
		delete(t.pending, slices.Max(keys(t.pending)))
	}
}

// flush stores what is ready and answers; a hole before what is held is
// answered with the high-water mark (a duplicate answer: the site resends
// the batch at that offset).
func (t *dtlsTopic) flush(recv *Receiver, w io.Writer) {
	for len(t.pending) > 0 {
		ks := keys(t.pending)
		slices.Sort(ks)
		first := t.pending[ks[0]]
		if t.known && ks[0] > t.next && first.b.From > t.next {
			t.answer(w, t.newest, uplinkapi.Ack{Status: uplinkapi.StatusGap, Next: t.next})
			return
		}
		run, used := t.merge(ks)
		ack := recv.Apply(&run.b)
		t.answer(w, run.stamp, ack)
		switch ack.Status {
		case uplinkapi.StatusStored:
			t.next, t.known = ack.Next, true
			for _, k := range used {
				delete(t.pending, k)
			}
			for k, it := range t.pending {
				if it.last() < t.next {
					delete(t.pending, k)
				}
			}
		case uplinkapi.StatusGap:
			t.next, t.known = ack.Next, true // keep the run for when the hole fills
			return
		default:
			// Refused or retry: drop it; the site holds or sends again.
			for _, k := range used {
				delete(t.pending, k)
			}
			return
		}
	}
}

// merge joins the contiguous batches from ks[0] on into one, of one epoch.
func (t *dtlsTopic) merge(ks []uint64) (dtlsItem, []uint64) {
	run := t.pending[ks[0]]
	used := []uint64{ks[0]}
	if len(ks) == 1 {
		return run, used
	}
	recs := append([]wire.Record(nil), run.b.Records...)
	for _, k := range ks[1:] {
		it := t.pending[k]
		end := recs[len(recs)-1].Offset
		if k > end+1 || it.b.Epoch != run.b.Epoch || len(recs) >= dtlsMaxRun {
			break
		}
		used = append(used, k)
		run.stamp = max(run.stamp, it.stamp)
		for _, r := range it.b.Records {
			if r.Offset > end {
				recs = append(recs, r)
			}
		}
	}
	run.b.Records = recs
	return run, used
}

func (t *dtlsTopic) answer(w io.Writer, stamp uint64, ack uplinkapi.Ack) {
	// A lost answer is like a lost batch: the site sends again.
	w.Write(uplinkapi.AppendAckDatagram(nil, stamp, t.name, ack))
}

func keys(m map[uint64]dtlsItem) []uint64 {
	out := make([]uint64, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

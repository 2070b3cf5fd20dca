package api

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/skerry/skerry/services/httpjson"
	"github.com/skerry/skerry/services/serve"
	"github.com/skerry/skerry/services/streamlog"
	"github.com/skerry/skerry/services/streamlog/wire"
)

// produce appends the records of the request's frames as one batch.
func (s *Server) produce(w http.ResponseWriter, r *http.Request, p Principal) error {
	name, err := s.topicName(r, p)
	if err != nil {
		return err
	}
	b := streamlog.Batch{Producer: r.Header.Get(wire.HeaderProducer)}
	if v := r.Header.Get(wire.HeaderSequence); v != "" || b.Producer != "" {
		if b.Seq, err = strconv.ParseUint(v, 10, 64); err != nil {
			return apiError(http.StatusBadRequest, wire.ErrBadRequest,
				fmt.Sprintf("header %s %q: an idempotent producer sends a decimal sequence number with its %s", wire.HeaderSequence, v, wire.HeaderProducer))
		}
	}
	// The whole body is one batch: one group commit, one acknowledgement,
	// one producer sequence range.
	recs, release, err := s.readBatch(r)
	defer release()
	if err != nil {
		return err
	}
	ack, err := s.store.Append(r.Context(), name, streamlog.Batch{Producer: b.Producer, Seq: b.Seq, Records: recs})
	if err != nil {
		return err
	}
	httpjson.Write(w, http.StatusOK, wire.Ack{First: ack.First, Last: ack.Last, Duplicate: ack.Duplicate})
	return nil
}

// readParams are the query parameters of a consume request.
type readParams struct {
	from   uint64
	max    int
	follow bool
}

func (s *Server) parseRead(r *http.Request, name string) (readParams, error) {
	q := r.URL.Query()
	rp := readParams{max: 1000}
	bad := func(param, v, want string) error {
		return apiError(http.StatusBadRequest, wire.ErrBadRequest, fmt.Sprintf("query %s=%q: %s", param, v, want))
	}
	var err error
	switch {
	case q.Has("offset") && q.Has("time"):
		return rp, bad("time", q.Get("time"), "give offset or time, not both")
	case q.Has("offset"):
		if rp.from, err = strconv.ParseUint(q.Get("offset"), 10, 64); err != nil {
			return rp, bad("offset", q.Get("offset"), "want a decimal offset")
		}
	case q.Has("time"):
		t, err := time.Parse(time.RFC3339Nano, q.Get("time"))
		if err != nil {
			return rp, bad("time", q.Get("time"), "want an RFC 3339 time such as 2026-01-02T15:04:05Z")
		}
		if rp.from, err = s.store.OffsetAt(name, t); err != nil {
			return rp, err
		}
	}
	if v := q.Get("max"); v != "" {
		if rp.max, err = strconv.Atoi(v); err != nil || rp.max < 1 || rp.max > wire.MaxFrameRecords {
			return rp, bad("max", v, fmt.Sprintf("want 1..%d records", wire.MaxFrameRecords))
		}
	}
	if v := q.Get("follow"); v != "" {
		if rp.follow, err = strconv.ParseBool(v); err != nil {
			return rp, bad("follow", v, "want true or false")
		}
	}
	return rp, nil
}

// consume answers with one frame of records, or with a live tail: frames
// as records are appended, until the client goes away.
//
// Flow control: the handler reads the next frame from the store only after
// the previous one was written to the connection, so a slow consumer
// blocks its own handler on the socket instead of making the service queue
// records; each tail holds at most one frame, tails are bounded by
// WithMaxTails, and one that accepts nothing for the tail deadline is cut.
func (s *Server) consume(w http.ResponseWriter, r *http.Request, p Principal) error {
	name, err := s.topicName(r, p)
	if err != nil {
		return err
	}
	rp, err := s.parseRead(r, name)
	if err != nil {
		return err
	}
	if !rp.follow {
		// One frame of at most max records and 4 MiB: a client pages
		// through a topic by asking again from the last offset + 1.
		recs, err := s.store.Read(name, rp.from, streamlog.ReadOptions{MaxRecords: rp.max, MaxBytes: 4 << 20})
		if err != nil {
			return err
		}
		w.Header().Set("Content-Type", wire.ContentType)
		// A client that stops reading must not hold the frame for ever.
		http.NewResponseController(w).SetWriteDeadline(time.Now().Add(s.o.tailDeadline))
		_, err = w.Write(wire.AppendFrame(nil, recs))
		return err
	}
	// Check the topic before taking a slot and sending the status line:
	// after that, errors can only end the stream.
	if _, err := s.store.Topic(name); err != nil {
		return err
	}
	select {
	case s.tails <- struct{}{}:
		defer func() { <-s.tails }()
	default:
		return apiError(http.StatusServiceUnavailable, wire.ErrTooManyTails,
			fmt.Sprintf("%d live tails already open: close one or read without follow", cap(s.tails)))
	}
	serve.Streaming(w, r)
	w.Header().Set("Content-Type", wire.ContentType)
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	rc.Flush()
	from := rp.from
	var buf []byte
	for {
		recs, err := s.store.Read(name, from, streamlog.ReadOptions{MaxRecords: rp.max, MaxBytes: s.o.tailFrame})
		if err != nil {
			s.log.Debug("tail ended", "topic", name, "err", err)
			return nil // the status line is sent; the client sees the stream end
		}
		if len(recs) == 0 {
			if err := s.store.Wait(r.Context(), name, from); err != nil {
				return nil
			}
			continue
		}
		from = recs[len(recs)-1].Offset + 1
		buf = wire.AppendFrame(buf[:0], recs)
		// The deadline is per frame: a consumer that reads slowly but
		// steadily is served; one that stopped reading is cut.
		rc.SetWriteDeadline(time.Now().Add(s.o.tailDeadline))
		if _, err := w.Write(buf); err != nil {
			return nil
		}
		if err := rc.Flush(); err != nil {
			return nil
		}
	}
}

// maxBodyBytes bounds a produce body: one full frame and some slack.
const maxBodyBytes = wire.MaxFrameBytes + 1024

// readBatch reads a produce body as it arrives, charging every chunk to the
// server's body budget before reading it; release gives the bytes back once
// the batch is stored. A stalled producer holds what it sent, never what
// its headers declare, and all of them together at most the budget.
func (s *Server) readBatch(r *http.Request) (recs []wire.Record, release func(), err error) {
	var held int64
	release = func() { s.bodies.Release(held) }
	charge := func(n int) error {
		if !s.bodies.TryAcquire(int64(n)) {
			ctx, cancel := context.WithTimeout(r.Context(), s.o.bodyWait)
			defer cancel()
			if err := s.bodies.Acquire(ctx, int64(n)); err != nil {
				return apiError(http.StatusServiceUnavailable, wire.ErrBusy,
					fmt.Sprintf("the service holds %d bytes of produce bodies, its bound: retry in a moment", s.o.bodyBudget))
			}
		}
		held += int64(n)
		return nil
	}
	recs, err = wire.ReadBatch(r.Body, maxBodyBytes, charge)
	if err == nil {
		return recs, release, nil
	}
	var ne net.Error
	switch {
	case errors.Is(err, wire.ErrBatchTooLarge):
		return nil, release, apiError(http.StatusRequestEntityTooLarge, wire.ErrRecordTooLarge,
			fmt.Sprintf("request body above %d bytes: send smaller batches", maxBodyBytes))
	case errors.As(err, &ne) && ne.Timeout():
		return nil, release, apiError(http.StatusRequestTimeout, wire.ErrTimeout,
			"request body arrived too slowly: send the batch at once")
	case errors.Is(err, wire.ErrBadFrame), errors.As(err, new(*wire.Error)):
		return nil, release, err
	}
	return nil, release, fmt.Errorf("%w: read body: %v", wire.ErrBadFrame, err)
}

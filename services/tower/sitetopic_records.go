package tower

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/skerry/skerry/services/api/towerapi"
	"github.com/skerry/skerry/services/httpjson"
	"github.com/skerry/skerry/services/serve"
	"github.com/skerry/skerry/services/streamlog"
)

const (
	// defaultRecordLimit and maxLimit bound the records of one answer.
	defaultRecordLimit = 100
	// maxRecordWait bounds ?wait=: a tail asks again.
	maxRecordWait = 30 * time.Second
	// maxHeldReads bounds the held reads in all, maxHeldReadsPerToken
	// those of one operator token (a few terminals tailing).
	maxHeldReads         = 4096
	maxHeldReadsPerToken = 16
)

// recordsQuery is what GET .../records asks.
type recordsQuery struct {
	offset *uint64    // a site offset
	since  *time.Time // a site append time
	limit  int
	wait   time.Duration
}

func parseRecordsQuery(r *http.Request) (recordsQuery, error) {
	q := recordsQuery{limit: defaultRecordLimit}
	v := r.URL.Query()
	if s := v.Get("offset"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return q, refuse(ErrBadRequest, "offset %q: want a site offset (a number from 0)", s)
		}
		q.offset = &n
	}
	if s := v.Get("since"); s != "" {
		if q.offset != nil {
			return q, refuse(ErrBadRequest, "give offset or since, not both")
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return q, refuse(ErrBadRequest, "since %q: want an RFC 3339 time, e.g. 2026-01-02T15:04:05Z", s)
		}
		q.since = &t
	}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxLimit {
			return q, refuse(ErrBadRequest, "limit %q: want a number from 1 to %d", s, maxLimit)
		}
		q.limit = n
	}
	if s := v.Get("wait"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || time.Duration(n)*time.Second > maxRecordWait {
			return q, refuse(ErrBadRequest, "wait %q: want seconds from 0 to %d", s, int(maxRecordWait/time.Second))
		}
		q.wait = time.Duration(n) * time.Second
	}
	return q, nil
}

// readSiteRecords answers GET /v1/sites/{site}/topics/{tenant}/{name}/records:
// records from a site offset or a site time on, in the site's offsets.
// With ?wait=S and nothing to answer yet, the request is held (outside
// the in-flight limit, serve.Streaming) until a record arrives or S
// seconds pass: a tail asks again from next.
func (s *Server) readSiteRecords(w http.ResponseWriter, r *http.Request, p principal) error {
	q, err := parseRecordsQuery(r)
	if err != nil {
		return err
	}
	hubName, info, err := s.siteTopic(r, p)
	if err != nil {
		return err
	}
	ctx := r.Context()
	if q.wait > 0 {
		release, err := s.uplink.held.hold(p.String())
		if err != nil {
			return err
		}
		defer release()
		serve.Streaming(w, r)
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, q.wait)
		defer cancel()
	}
	for {
		out, hubNext, err := s.readRecords(hubName, info, q)
		if err != nil {
			return err
		}
		if len(out.Records) > 0 || q.wait == 0 {
			writeJSON(w, http.StatusOK, out)
			return nil
		}
		// Nothing at or after the asked offset yet: wait for the hub's
		// next record, then search again (it may still be below it).
		if err := s.uplink.store.Wait(ctx, hubName, hubNext); err != nil {
			if r.Context().Err() != nil {
				return r.Context().Err()
			}
			if ctx.Err() != nil {
				writeJSON(w, http.StatusOK, out) // waited long enough
				return nil
			}
			return err
		}
		if info, err = s.uplink.store.Topic(hubName); err != nil {
			return err
		}
	}
}

// readRecords reads q's records of the hub topic as of info. It returns
// the answer and the hub offset it read from.
func (s *Server) readRecords(hubName string, info streamlog.TopicInfo, q recordsQuery) (towerapi.TopicRecords, uint64, error) {
	out := towerapi.TopicRecords{Records: []towerapi.TopicRecord{}}
	var from uint64
	var err error
	switch {
	case q.offset != nil:
		want := *q.offset
		out.Next = want
		from, err = s.searchSite(hubName, info, func(off uint64, _ time.Time) bool { return off < want })
	case q.since != nil:
		since := *q.since
		from, err = s.searchSite(hubName, info, func(_ uint64, at time.Time) bool { return at.Before(since) })
	default:
		from = info.Start
	}
	if err != nil {
		return out, 0, err
	}
	if from >= info.Next {
		if q.offset == nil {
			v, err := s.siteTopicView(info, "")
			if err != nil {
				return out, 0, err
			}
			out.Next = v.NextOffset
		}
		return out, info.Next, nil
	}
	recs, err := s.uplink.store.Read(hubName, from, streamlog.ReadOptions{MaxRecords: q.limit})
	if err != nil {
		return out, 0, err
	}
	for _, rec := range recs {
		out.Records = append(out.Records, recordView(rec))
	}
	if n := len(out.Records); n > 0 {
		out.Next = out.Records[n-1].Offset + 1
	}
	return out, from, nil
}

// holds bounds the held reads, as serve.Streaming asks.
type holds struct {
	mu  sync.Mutex
	by  map[string]int
	all int
}

func newHolds() *holds { return &holds{by: map[string]int{}} }

// hold counts a held read of who, or refuses it when too many are.
func (h *holds) hold(who string) (release func(), err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.all >= maxHeldReads || h.by[who] >= maxHeldReadsPerToken {
		return nil, &httpjson.Error{Status: http.StatusServiceUnavailable, Code: httpjson.CodeBusy,
			Message: fmt.Sprintf("too many held record reads (%s holds %d, the tower %d); retry later or read without wait", who, h.by[who], h.all)}
	}
	h.all++
	h.by[who]++
	return func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.all--
		if h.by[who]--; h.by[who] == 0 {
			delete(h.by, who)
		}
	}, nil
}

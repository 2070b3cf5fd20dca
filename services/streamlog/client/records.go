package client

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/skerry/skerry/services/streamlog/wire"
)

// Append appends records as one batch. With a producer id, seq is the
// sequence number of the first record and a retry after a lost answer is
// stored once (see Producer, which does this for you).
func (c *Client) Append(ctx context.Context, name, producer string, seq uint64, recs []wire.Record) (wire.Ack, error) {
	var ack wire.Ack
	p, err := topicPath(name)
	if err != nil {
		return ack, err
	}
	hdr := http.Header{"Content-Type": {wire.ContentType}}
	if producer != "" {
		hdr.Set(wire.HeaderProducer, producer)
		hdr.Set(wire.HeaderSequence, strconv.FormatUint(seq, 10))
	}
	err = c.do(ctx, http.MethodPost, p+"/records", hdr, bytes.NewReader(wire.AppendFrame(nil, recs)), &ack)
	return ack, err
}

// From says where a read starts: an offset, or the first record at or
// after a time when Time is set.
type From struct {
	Offset uint64
	Time   time.Time
}

func (f From) query(q url.Values) {
	if !f.Time.IsZero() {
		q.Set("time", f.Time.UTC().Format(time.RFC3339Nano))
	} else {
		q.Set("offset", strconv.FormatUint(f.Offset, 10))
	}
}

// Read returns up to max records from f. Offsets below the topic's start
// read from the start; the records' offsets show where it begins.
func (c *Client) Read(ctx context.Context, name string, f From, max int) ([]wire.Record, error) {
	p, err := topicPath(name)
	if err != nil {
		return nil, err
	}
	q := url.Values{}
	f.query(q)
	if max > 0 {
		q.Set("max", strconv.Itoa(max))
	}
	resp, err := c.send(ctx, http.MethodGet, p+"/records?"+q.Encode(), nil, nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	recs, _, err := wire.ReadFrame(bufio.NewReader(resp.Body), nil)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	return recs, nil
}

// Tail calls fn with each batch of records from f on, as they are
// appended, until ctx ends or fn returns an error. The server sends a
// batch only after the previous one was taken off the connection, so a
// slow fn slows the stream down instead of piling records up anywhere.
func (c *Client) Tail(ctx context.Context, name string, f From, fn func([]wire.Record) error) error {
	p, err := topicPath(name)
	if err != nil {
		return err
	}
	q := url.Values{"follow": {"true"}}
	f.query(q)
	resp, err := c.send(ctx, http.MethodGet, p+"/records?"+q.Encode(), nil, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	// A small buffer on purpose: what the client buffers is what the
	// server may run ahead of fn, and flow control should reach the server.
	br := bufio.NewReaderSize(resp.Body, 64<<10)
	var buf []byte
	for {
		var recs []wire.Record
		recs, buf, err = wire.ReadFrame(br, buf)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if errors.Is(err, io.EOF) {
				return fmt.Errorf("tail %s: the server ended the stream", name)
			}
			return fmt.Errorf("tail %s: %w", name, err)
		}
		// buf is reused for the next frame: hand fn copies.
		for i := range recs {
			recs[i].Key = bytes.Clone(recs[i].Key)
			recs[i].Value = bytes.Clone(recs[i].Value)
			for j := range recs[i].Headers {
				recs[i].Headers[j].Value = bytes.Clone(recs[i].Headers[j].Value)
			}
		}
		if err := fn(recs); err != nil {
			return err
		}
	}
}

func readAllLimit(r io.Reader, n int64) ([]byte, error) {
	return io.ReadAll(io.LimitReader(r, n))
}

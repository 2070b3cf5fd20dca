package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/skerry/skerry/services/streamlog/client"
	"github.com/skerry/skerry/services/streamlog/wire"
)

func logProduce(ctx context.Context, lc *logCtx, args []string) error {
	fs := flag.NewFlagSet("produce", flag.ContinueOnError)
	fs.SetOutput(lc.stderr)
	key := fs.String("key", "", "key of every record")
	name, err := oneTopic(fs, args)
	if err != nil {
		return err
	}
	p := lc.c.NewProducer(ctx, name, client.ProducerOptions{})
	var results []*client.Result
	sc := bufio.NewScanner(lc.stdin)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		rec := wire.Record{Value: append([]byte(nil), sc.Bytes()...)}
		if *key != "" {
			rec.Key = []byte(*key)
		}
		results = append(results, p.Send(rec))
	}
	p.Close()
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read stdin: %w", err)
	}
	var first, last uint64
	for i, r := range results {
		off, err := r.Wait(ctx)
		if err != nil {
			return fmt.Errorf("record %d: %w", i+1, err)
		}
		if i == 0 {
			first = off
		}
		last = off
	}
	if len(results) == 0 {
		fmt.Fprintln(lc.stdout, "no records on stdin")
		return nil
	}
	fmt.Fprintf(lc.stdout, "produced %d records to %s, offsets %d-%d\n", len(results), name, first, last)
	return nil
}

// readFlags are consume's and tail's.
type readFlags struct {
	offset *uint64
	time   *string
	cursor *string
	n      *int
}

func newReadFlags(fs *flag.FlagSet) readFlags {
	return readFlags{
		offset: fs.Uint64("offset", 0, "first offset to read"),
		time:   fs.String("time", "", "read from the first record at or after this RFC 3339 time"),
		cursor: fs.String("cursor", "", "start at this consumer's cursor and commit it as records are printed"),
		n:      fs.Int("n", 0, "stop after this many records (0: consume: 100, tail: no limit)"),
	}
}

func (rf readFlags) from(ctx context.Context, lc *logCtx, name string) (client.From, error) {
	switch {
	case *rf.time != "":
		t, err := time.Parse(time.RFC3339Nano, *rf.time)
		if err != nil {
			return client.From{}, fmt.Errorf("-time %q: want RFC 3339, e.g. 2026-01-02T15:04:05Z", *rf.time)
		}
		return client.From{Time: t}, nil
	case *rf.cursor != "":
		c, err := lc.c.Cursor(ctx, name, *rf.cursor)
		if errors.Is(err, wire.ErrCursorNotFound) {
			return client.From{}, nil
		}
		return client.From{Offset: c.Offset}, err
	}
	return client.From{Offset: *rf.offset}, nil
}

// parseRead parses consume's or tail's flags and topic, and resolves
// where reading starts.
func parseRead(ctx context.Context, lc *logCtx, cmd string, args []string) (readFlags, string, client.From, error) {
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(lc.stderr)
	rf := newReadFlags(fs)
	name, err := oneTopic(fs, args)
	if err != nil {
		return rf, "", client.From{}, err
	}
	from, err := rf.from(ctx, lc, name)
	return rf, name, from, err
}

func printRecords(w io.Writer, recs []wire.Record) {
	for _, r := range recs {
		fmt.Fprintf(w, "%d\t%s\t%s\t%s\n", r.Offset, r.Time.Format(time.RFC3339Nano), r.Key, r.Value)
	}
}

func logConsume(ctx context.Context, lc *logCtx, args []string) error {
	rf, name, from, err := parseRead(ctx, lc, "consume", args)
	if err != nil {
		return err
	}
	n := *rf.n
	if n <= 0 {
		n = 100
	}
	recs, err := lc.c.Read(ctx, name, from, n)
	if err != nil {
		return err
	}
	printRecords(lc.stdout, recs)
	if *rf.cursor != "" && len(recs) > 0 {
		return lc.c.CommitCursor(ctx, name, *rf.cursor, recs[len(recs)-1].Offset+1)
	}
	return nil
}

// errEnough stops a tail that printed -n records.
var errEnough = errors.New("enough")

func logTail(ctx context.Context, lc *logCtx, args []string) error {
	rf, name, from, err := parseRead(ctx, lc, "tail", args)
	if err != nil {
		return err
	}
	printed := 0
	err = lc.c.Tail(ctx, name, from, func(recs []wire.Record) error {
		if *rf.n > 0 && printed+len(recs) > *rf.n {
			recs = recs[:*rf.n-printed]
		}
		printRecords(lc.stdout, recs)
		printed += len(recs)
		if *rf.cursor != "" && len(recs) > 0 {
			if err := lc.c.CommitCursor(ctx, name, *rf.cursor, recs[len(recs)-1].Offset+1); err != nil {
				return err
			}
		}
		if *rf.n > 0 && printed >= *rf.n {
			return errEnough
		}
		return nil
	})
	if errors.Is(err, errEnough) || errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

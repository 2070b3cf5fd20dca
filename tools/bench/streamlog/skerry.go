package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/skerry/skerry/services/streamlog/client"
	"github.com/skerry/skerry/services/streamlog/wire"
)

type skerry struct {
	bin, data, sock string
	extra           []string
	cmd             *exec.Cmd
	c               *client.Client
	topic           string
	n               int
}

func newSkerry(bin, dir, extra string) *skerry {
	return &skerry{bin: bin, data: dir, sock: filepath.Join(dir, "s.sock"), extra: strings.Fields(extra)}
}

func (s *skerry) name() string      { return "skerry" }
func (s *skerry) dir() string       { return s.data }
func (s *skerry) proc() *exec.Cmd   { return s.cmd }
func (s *skerry) close()            { kill(s.cmd); s.cmd = nil }
func (s *skerry) tokenPath() string { return filepath.Join(s.data, "system.token") }

func (s *skerry) start() (time.Duration, error) {
	begin := time.Now()
	os.MkdirAll(s.data, 0o700)
	s.cmd = exec.Command(s.bin, append([]string{"streamlog", "-dir", s.data, "-socket", s.sock}, s.extra...)...)
	if f, err := os.OpenFile(filepath.Join(s.data, "..", filepath.Base(s.data)+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600); err == nil {
		s.cmd.Stderr = f
	}
	if err := s.cmd.Start(); err != nil {
		return 0, err
	}
	err := waitFor(30*time.Second, func() error {
		tok, err := os.ReadFile(s.tokenPath())
		if err != nil {
			return err
		}
		s.c, _ = client.New(s.sock, client.WithToken(strings.TrimSpace(string(tok))))
		_, err = s.c.Topics(context.Background(), "")
		return err
	})
	return time.Since(begin), err
}

func (s *skerry) reset(ctx context.Context) error {
	if s.topic != "" {
		s.c.DeleteTopic(ctx, s.topic)
	}
	s.n++
	s.topic = fmt.Sprintf("bench/t%d", s.n)
	_, err := s.c.CreateTopic(ctx, s.topic, wire.TopicConfig{MaxBytes: 8 << 30})
	return err
}

type skerryProducer struct {
	p       *client.Producer
	results chan func()
	done    chan struct{}
}

func (s *skerry) producer(ctx context.Context) (producer, error) {
	p := &skerryProducer{p: s.c.NewProducer(ctx, s.topic, client.ProducerOptions{MaxBatch: 2000}), results: make(chan func(), 1<<16), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		for f := range p.results {
			f()
		}
	}()
	return p, nil
}

func (p *skerryProducer) send(val []byte, done func(error)) error {
	r := p.p.Send(wire.Record{Value: val})
	p.results <- func() { <-r.Done(); done(r.Err) }
	return nil
}

func (p *skerryProducer) close() { p.p.Close(); close(p.results); <-p.done }

// catchUp reads through a live tail: the same path the uplink uses, and the
// one with the least per-record overhead (frames of up to 256 KiB).
func (s *skerry) catchUp(ctx context.Context, n int) error {
	got := 0
	err := s.c.Tail(ctx, s.topic, client.From{}, func(recs []wire.Record) error {
		got += len(recs)
		if got >= n {
			return errDone
		}
		return nil
	})
	if err == errDone {
		return nil
	}
	return err
}

func (s *skerry) ready(ctx context.Context, n int) error {
	info, err := s.c.Topic(ctx, s.topic)
	if err != nil {
		return err
	}
	if info.Next < uint64(n) {
		return fmt.Errorf("%d records after restart, want %d", info.Next, n)
	}
	_, err = s.c.Read(ctx, s.topic, client.From{Offset: uint64(n - 1)}, 1)
	return err
}

// diag returns the commit-duration histogram from the metrics.
func (s *skerry) diag(ctx context.Context) string {
	m, err := s.c.Metrics(ctx)
	if err != nil {
		return err.Error()
	}
	var out []string
	for _, l := range strings.Split(m, "\n") {
		if strings.HasPrefix(l, "skerry_streamlog_commit") {
			out = append(out, strings.TrimPrefix(l, "skerry_streamlog_"))
		}
	}
	return strings.Join(out, " ")
}

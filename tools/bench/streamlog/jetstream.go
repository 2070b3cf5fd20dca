package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

var errDone = errors.New("done")

// jetStream runs nats-server with file storage, one replica.
type jetStream struct {
	bin, data string
	always    bool
	port      int
	cmd       *exec.Cmd
	nc        *nats.Conn
	js        jetstream.JetStream
	stream    string
	n         int
	conns     []*nats.Conn
}

func newJetStream(bin, dir string, always bool) *jetStream {
	return &jetStream{bin: bin, data: dir, always: always}
}

func (j *jetStream) name() string {
	if j.always {
		return "js-always"
	}
	return "js-default"
}
func (j *jetStream) dir() string     { return j.data }
func (j *jetStream) proc() *exec.Cmd { return j.cmd }

func (j *jetStream) close() {
	for _, c := range j.conns {
		c.Close()
	}
	j.conns = nil
	if j.nc != nil {
		j.nc.Close()
	}
	kill(j.cmd)
	j.cmd = nil
}

func freePort() int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 14222
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func (j *jetStream) start() (time.Duration, error) {
	begin := time.Now()
	os.MkdirAll(j.data, 0o700)
	if j.port == 0 {
		j.port = freePort()
	}
	// sync_interval: always makes JetStream fsync before every
	// acknowledgement: the durability of a persistent Skerry topic.
	sync := ""
	if j.always {
		sync = "sync_interval: always"
	}
	conf := filepath.Join(j.data, "nats.conf")
	os.WriteFile(conf, fmt.Appendf(nil, "listen: 127.0.0.1:%d\njetstream {\n store_dir: %q\n %s\n}\n", j.port, filepath.Join(j.data, "js"), sync), 0o600)
	j.cmd = exec.Command(j.bin, "-c", conf)
	if err := j.cmd.Start(); err != nil {
		return 0, err
	}
	err := waitFor(60*time.Second, func() error {
		nc, err := nats.Connect(fmt.Sprintf("nats://127.0.0.1:%d", j.port))
		if err != nil {
			return err
		}
		js, err := jetstream.New(nc)
		if err != nil {
			nc.Close()
			return err
		}
		if _, err := js.AccountInfo(context.Background()); err != nil {
			nc.Close()
			return err
		}
		j.nc, j.js = nc, js
		return nil
	})
	return time.Since(begin), err
}

func (j *jetStream) reset(ctx context.Context) error {
	if j.stream != "" {
		j.js.DeleteStream(ctx, j.stream)
	}
	j.n++
	j.stream = fmt.Sprintf("T%d", j.n)
	_, err := j.js.CreateStream(ctx, jetstream.StreamConfig{
		Name: j.stream, Subjects: []string{j.stream}, Storage: jetstream.FileStorage, Replicas: 1,
	})
	return err
}

type jsProducer struct {
	js      jetstream.JetStream
	subj    string
	futures chan func()
	done    chan struct{}
}

// producer opens a connection of its own, as a separate producer would.
func (j *jetStream) producer(ctx context.Context) (producer, error) {
	nc, err := nats.Connect(fmt.Sprintf("nats://127.0.0.1:%d", j.port))
	if err != nil {
		return nil, err
	}
	j.conns = append(j.conns, nc)
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(1<<16))
	if err != nil {
		return nil, err
	}
	p := &jsProducer{js: js, subj: j.stream, futures: make(chan func(), 1<<16), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		for f := range p.futures {
			f()
		}
	}()
	return p, nil
}

func (p *jsProducer) send(val []byte, done func(error)) error {
	f, err := p.js.PublishAsync(p.subj, val)
	if err != nil {
		return err
	}
	p.futures <- func() {
		select {
		case <-f.Ok():
			done(nil)
		case err := <-f.Err():
			done(err)
		}
	}
	return nil
}

func (p *jsProducer) close() { close(p.futures); <-p.done }

// catchUp uses an ordered consumer, JetStream's fastest way to replay a
// stream from the start.
func (j *jetStream) catchUp(ctx context.Context, n int) error {
	cons, err := j.js.OrderedConsumer(ctx, j.stream, jetstream.OrderedConsumerConfig{})
	if err != nil {
		return err
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(4096))
	if err != nil {
		return err
	}
	defer it.Stop()
	for got := 0; got < n; got++ {
		if _, err := it.Next(); err != nil {
			return err
		}
	}
	return nil
}

func (j *jetStream) ready(ctx context.Context, n int) error {
	s, err := j.js.Stream(ctx, j.stream)
	if err != nil {
		return err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return err
	}
	if info.State.Msgs < uint64(n) {
		return fmt.Errorf("%d messages after restart, want %d", info.State.Msgs, n)
	}
	_, err = s.GetMsg(ctx, uint64(n))
	return err
}

func (j *jetStream) diag(context.Context) string { return "" }

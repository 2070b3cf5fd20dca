package qemu

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"
)

// qmp is a client of QEMU's machine protocol: JSON objects, one command at
// a time, with asynchronous events interleaved between the replies. A
// reader goroutine drains the connection all the time, so events cannot
// pile up in QEMU while no command runs.
type qmp struct {
	mu      sync.Mutex // one command at a time
	conn    net.Conn
	enc     *json.Encoder
	id      int
	log     *slog.Logger
	replies chan qmpMessage
	closing chan struct{} // closed by close, to stop the reader
	done    chan struct{} // closed when the reader has stopped
	readErr error         // why it stopped; valid once done is closed
}

// QMPError is a command's error reply from QEMU.
type QMPError struct {
	Class string `json:"class"`
	Desc  string `json:"desc"`
}

func (e *QMPError) Error() string { return e.Class + ": " + e.Desc }

type qmpMessage struct {
	Return json.RawMessage `json:"return"`
	Error  *QMPError       `json:"error"`
	Event  string          `json:"event"`
	ID     int             `json:"id"`
}

// newQMP reads QEMU's greeting and leaves capabilities negotiation mode,
// after which QEMU accepts commands.
func newQMP(ctx context.Context, conn net.Conn, log *slog.Logger) (*qmp, error) {
	q := &qmp{
		conn: conn, enc: json.NewEncoder(conn), log: log,
		// One slot: the late reply of a command that gave up waits there
		// until the next command skips it.
		replies: make(chan qmpMessage, 1),
		closing: make(chan struct{}),
		done:    make(chan struct{}),
	}
	dec := json.NewDecoder(conn)
	if d, ok := ctx.Deadline(); ok {
		conn.SetReadDeadline(d)
	}
	var greeting struct {
		QMP json.RawMessage `json:"QMP"`
	}
	err := dec.Decode(&greeting)
	conn.SetReadDeadline(time.Time{})
	if err == nil && greeting.QMP == nil {
		err = errors.New("not a QMP greeting")
	}
	if err != nil {
		return nil, fmt.Errorf("read qmp greeting: %w", err)
	}
	go q.read(dec)
	if err := q.execute(ctx, "qmp_capabilities", nil, nil); err != nil {
		q.close()
		return nil, err
	}
	return q, nil
}

func (q *qmp) read(dec *json.Decoder) {
	defer close(q.done)
	for {
		var m qmpMessage
		if err := dec.Decode(&m); err != nil {
			q.readErr = err
			return
		}
		if m.Event != "" {
			q.log.Debug("qmp event", "event", m.Event)
			continue
		}
		select {
		case q.replies <- m:
		case <-q.closing:
			q.readErr = net.ErrClosed
			return
		}
	}
}

// execute runs cmd with args (nil: none) and decodes its return value into
// result (nil: ignored). Each command carries an id, so a reply that
// arrives after its command gave up is recognised and skipped.
func (q *qmp) execute(ctx context.Context, cmd string, args, result any) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.id++
	req := map[string]any{"execute": cmd, "id": q.id}
	if args != nil {
		req["arguments"] = args
	}
	if d, ok := ctx.Deadline(); ok {
		q.conn.SetWriteDeadline(d)
	}
	err := q.enc.Encode(req)
	q.conn.SetWriteDeadline(time.Time{})
	if err != nil {
		return fmt.Errorf("send qmp %s: %w", cmd, err)
	}
	for {
		select {
		case m := <-q.replies:
			switch {
			case m.ID != q.id:
				// The late reply of a command that gave up.
			case m.Error != nil:
				return fmt.Errorf("qmp %s: %w", cmd, m.Error)
			case result != nil:
				if err := json.Unmarshal(m.Return, result); err != nil {
					return fmt.Errorf("decode qmp %s: %w", cmd, err)
				}
				return nil
			default:
				return nil
			}
		case <-q.done:
			return fmt.Errorf("read qmp %s: %w", cmd, q.readErr)
		case <-ctx.Done():
			return fmt.Errorf("qmp %s: %w", cmd, ctx.Err())
		}
	}
}

// close ends the connection and waits for the reader, so nothing is logged
// after Close returns.
func (q *qmp) close() {
	close(q.closing)
	q.conn.Close()
	<-q.done
}

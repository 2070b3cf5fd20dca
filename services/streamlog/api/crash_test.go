package api

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/skerry/skerry/qemu/testenv"
	"github.com/skerry/skerry/services/streamlog/client"
	"github.com/skerry/skerry/services/streamlog/wire"
)

// child is the service running as a child process: the test binary with
// STREAMLOG_TEST_SERVE set (see TestMain).
type child struct {
	t         *testing.T
	dir, sock string
	cmd       *exec.Cmd
}

// startChild starts the service on dir and sock, waits until it listens,
// and returns it with a client holding the system token. The child is
// killed at the end of the test.
func startChild(t *testing.T, dir, sock string) (*child, *client.Client) {
	t.Helper()
	ch := &child{t: t, dir: dir, sock: sock}
	ch.start()
	t.Cleanup(ch.kill)
	tok, err := readToken(filepath.Join(dir, "system.token"))
	if err != nil {
		t.Fatal(err)
	}
	c, _ := client.New(sock, client.WithToken(tok))
	return ch, c
}

// start starts the child and returns how long it took until it listened.
func (ch *child) start() time.Duration {
	ch.t.Helper()
	begin := time.Now()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "STREAMLOG_TEST_SERVE="+ch.dir+" "+ch.sock)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		ch.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		ch.t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "READY\n" {
		cmd.Process.Kill()
		cmd.Wait()
		ch.t.Fatalf("service child did not start: %q, %v", line, err)
	}
	ch.cmd = cmd
	return time.Since(begin)
}

// kill kills the child with SIGKILL and waits for it.
func (ch *child) kill() {
	if ch.cmd != nil {
		ch.cmd.Process.Signal(syscall.SIGKILL)
		ch.cmd.Wait()
		ch.cmd = nil
	}
}

// TestCrashSIGKILL kills the service with SIGKILL in the middle of a write
// load from four idempotent producers, restarts it, and checks that every
// acknowledged record is there at its offset, offsets are dense, every
// record decodes, and the producers' retries stored nothing twice.
func TestCrashSIGKILL(t *testing.T) {
	testenv.Integration(t)
	dir := t.TempDir()
	sock := filepath.Join(dir, "s.sock")
	svc, c := startChild(t, dir, sock)
	ctx := context.Background()
	if _, err := c.CreateTopic(ctx, "system/crash", wire.TopicConfig{MaxBytes: 1 << 30}); err != nil {
		t.Fatal(err)
	}
	acked := map[uint64]string{} // offset -> value
	var mu sync.Mutex
	seqs := make([]uint64, 4) // next sequence per producer, across restarts
	for round := 0; round < 3; round++ {
		var wg sync.WaitGroup
		stop := make(chan struct{})
		for p := 0; p < 4; p++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for n := 0; ; n++ {
					select {
					case <-stop:
						return
					default:
					}
					batch := make([]wire.Record, 50)
					for i := range batch {
						batch[i].Value = fmt.Appendf(nil, "p%d-%d", p, seqs[p]+uint64(i))
					}
					// Retry the same batch until it is acknowledged or the
					// service is gone; a retry that was stored already
					// comes back as a duplicate with the original offsets.
					ack, err := c.Append(ctx, "system/crash", fmt.Sprint("producer-", p), seqs[p], batch)
					if err != nil {
						return // killed: this batch may or may not be stored
					}
					mu.Lock()
					for i := range batch {
						acked[ack.First+uint64(i)] = string(batch[i].Value)
					}
					mu.Unlock()
					seqs[p] += uint64(len(batch))
				}
			}()
		}
		time.Sleep(700 * time.Millisecond)
		svc.kill()
		close(stop)
		wg.Wait()
		took := svc.start()
		t.Logf("round %d: %d records acknowledged so far, restart took %v", round, len(acked), took)
		if took > 5*time.Second {
			t.Errorf("restart took %v", took)
		}
		// The batch in flight at the kill may have been stored without an
		// answer: resending it must not duplicate it.
		for p := range seqs {
			batch := make([]wire.Record, 50)
			for i := range batch {
				batch[i].Value = fmt.Appendf(nil, "p%d-%d", p, seqs[p]+uint64(i))
			}
			ack, err := c.Append(ctx, "system/crash", fmt.Sprint("producer-", p), seqs[p], batch)
			if err != nil {
				t.Fatalf("resend after restart: %v", err)
			}
			for i := range batch {
				acked[ack.First+uint64(i)] = string(batch[i].Value)
			}
			seqs[p] += uint64(len(batch))
		}
	}
	var all []wire.Record
	for from := uint64(0); ; {
		recs, err := c.Read(ctx, "system/crash", client.From{Offset: from}, 10000)
		if err != nil {
			t.Fatalf("read after crashes: %v", err)
		}
		if len(recs) == 0 {
			break
		}
		all = append(all, recs...)
		from = recs[len(recs)-1].Offset + 1
	}
	seen := map[string]bool{}
	for i, r := range all {
		if r.Offset != uint64(i) {
			t.Fatalf("offset %d at position %d: not dense", r.Offset, i)
		}
		if seen[string(r.Value)] {
			t.Errorf("value %s stored twice", r.Value)
		}
		seen[string(r.Value)] = true
	}
	for off, v := range acked {
		if off >= uint64(len(all)) || string(all[off].Value) != v {
			t.Fatalf("acknowledged offset %d (%s) lost", off, v)
		}
	}
	t.Logf("%d records after 3 kills, all %d acknowledged present, none duplicated", len(all), len(acked))
}

// TestDiskFull fills a tmpfs of its own: producers get disk_full, reads go
// on, and appends succeed again once space is freed. Then it fills the
// disk again and restarts the service while it is full: the service must
// start, refuse appends with disk_full, serve reads and status, delete a
// topic, and take appends again, with no restart, once the deletion gave
// space back.
func TestDiskFull(t *testing.T) {
	testenv.Integration(t, testenv.Root())
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=12m"); err != nil {
		t.Fatalf("mount a tmpfs of 12 MiB on %s: %v", dir, err)
	}
	defer syscall.Unmount(dir, syscall.MNT_DETACH)
	// Ballast that is deleted later to give space back.
	if err := os.WriteFile(filepath.Join(dir, "ballast"), make([]byte, 4<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	sock := filepath.Join(t.TempDir(), "s.sock")
	svc, c := startChild(t, data, sock)
	ctx := context.Background()
	for _, name := range []string{"system/fill", "system/keep"} {
		if _, err := c.CreateTopic(ctx, name, wire.TopicConfig{MaxBytes: 1 << 30}); err != nil {
			t.Fatal(err)
		}
	}
	small := []wire.Record{{Value: []byte("keep")}}
	if _, err := c.Append(ctx, "system/keep", "", 0, small); err != nil {
		t.Fatal(err)
	}
	// Records that expire while the disk is full: retention must run.
	if _, err := c.CreateTopic(ctx, "system/aged", wire.TopicConfig{MaxAge: "2s"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Append(ctx, "system/aged", "", 0, []wire.Record{{Value: []byte("old")}, {Value: []byte("older")}}); err != nil {
		t.Fatal(err)
	}
	batch := make([]wire.Record, 64)
	for i := range batch {
		batch[i].Value = make([]byte, 1000)
	}
	// fill appends until disk_full and returns the next offset.
	fill := func() uint64 {
		t.Helper()
		info, err := c.Topic(ctx, "system/fill")
		if err != nil {
			t.Fatal(err)
		}
		next := info.Next
		for i := 0; i < 1000; i++ {
			ack, err := c.Append(ctx, "system/fill", "", 0, batch)
			switch {
			case errors.Is(err, wire.ErrDiskFull):
				t.Logf("full at offset %d: %v", next, err)
				return next
			case err != nil:
				t.Fatalf("append %d: got %v, want success or disk_full", i, err)
			default:
				next = ack.Last + 1
			}
		}
		t.Fatal("the filesystem never filled")
		return 0
	}
	acked := fill()
	recs, err := c.Read(ctx, "system/fill", client.From{}, 100)
	if err != nil || len(recs) != 100 {
		t.Fatalf("read while full: %d records, %v", len(recs), err)
	}
	if st, err := c.Status(ctx); err != nil || !st.DiskFull {
		t.Errorf("status while full: disk_full=%v, %v", st.DiskFull, err)
	}
	os.Remove(filepath.Join(dir, "ballast"))
	ack, err := c.Append(ctx, "system/fill", "", 0, batch)
	if err != nil {
		t.Fatalf("append after space returned: %v", err)
	}
	if ack.First != acked {
		t.Errorf("first offset after recovery: got %d, want %d (dense)", ack.First, acked)
	}

	// Full again, then killed and restarted while full.
	acked = fill()
	svc.kill()
	svc.start()
	if info, err := c.Topic(ctx, "system/fill"); err != nil || info.Next != acked {
		t.Errorf("after a restart while full: next %d, %v; want %d", info.Next, err, acked)
	}
	// What bbolt's free pages still hold may go in; then disk_full.
	acked = fill()
	recs, err = c.Read(ctx, "system/fill", client.From{Offset: acked - 10}, 100)
	if err != nil || len(recs) != 10 {
		t.Errorf("read after a restart while full: %d records, %v; want 10", len(recs), err)
	}
	if st, err := c.Status(ctx); err != nil || !st.DiskFull {
		t.Errorf("status after a restart while full: disk_full=%v, %v", st.DiskFull, err)
	}
	// Age retention goes on while full.
	for end := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		info, err := c.Topic(ctx, "system/aged")
		if err == nil && info.Start == info.Next && info.Next == 2 {
			break
		}
		if time.Now().After(end) {
			t.Fatalf("expired records not dropped while full: %+v, %v", info, err)
		}
	}
	// Deleting the large topic frees its segments; appends resume by
	// themselves.
	keep, err := c.Topic(ctx, "system/keep")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteTopic(ctx, "system/fill"); err != nil {
		t.Fatalf("delete a topic while full: %v", err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		ack, err = c.Append(ctx, "system/keep", "", 0, small)
		if err == nil {
			break
		}
		if !errors.Is(err, wire.ErrDiskFull) || time.Now().After(deadline) {
			t.Fatalf("append after deleting the large topic: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if ack.First != keep.Next {
		t.Errorf("first offset after space returned: got %d, want %d (dense)", ack.First, keep.Next)
	}
	// Everything acknowledged survives a restart too.
	svc.kill()
	svc.start()
	info, err := c.Topic(ctx, "system/keep")
	if err != nil || info.Next != ack.Last+1 {
		t.Errorf("after restart: next %d, %v; want %d", info.Next, err, ack.Last+1)
	}
}

package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// system is one server under test.
type system interface {
	name() string
	start() (time.Duration, error) // until it serves
	proc() *exec.Cmd
	dir() string
	reset(ctx context.Context) error // a fresh topic/stream
	producer(ctx context.Context) (producer, error)
	// catchUp reads n records from the beginning as fast as it can.
	catchUp(ctx context.Context, n int) error
	// ready checks the data is there after a restart: n records.
	ready(ctx context.Context, n int) error
	// diag describes what the server spent its time on, if it can tell.
	diag(ctx context.Context) string
	close()
}

// producer sends records asynchronously; done is called once per record,
// in order, when it is acknowledged.
type producer interface {
	send(val []byte, done func(error)) error
	close()
}

// rssKB reads a process's resident set size.
func rssKB(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
			return n
		}
	}
	return 0
}

func duBytes(dir string) int64 {
	var n int64
	filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			// Allocated blocks, or the file size where delayed allocation
			// has not allocated them yet, whichever is larger.
			n += fi.Size()
			if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Blocks*512 > fi.Size() {
				n += st.Blocks*512 - fi.Size()
			}
		}
		return nil
	})
	return n
}

func kill(cmd *exec.Cmd) {
	if cmd != nil && cmd.Process != nil {
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
	}
}

// waitFor polls f until it succeeds or the deadline passes.
func waitFor(d time.Duration, f func() error) error {
	end := time.Now().Add(d)
	for {
		err := f()
		if err == nil || time.Now().After(end) {
			return err
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// rssSplit shows the anonymous and file-backed parts of the RSS: bbolt's
// mmap pages count as file-backed, the Go heap as anonymous.
func rssSplit(pid int) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "RssAnon:") || strings.HasPrefix(l, "RssFile:") {
			out = append(out, strings.Join(strings.Fields(l), " "))
		}
	}
	return strings.Join(out, ", ")
}

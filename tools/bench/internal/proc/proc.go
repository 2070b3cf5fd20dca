// Package proc holds what the benchmarks under tools/bench read of the
// processes they start: CPU time and the line a server prints when it
// serves.
package proc

import (
	"bufio"
	"fmt"
	"os"
	"strings"
	"time"
)

// CPUTime returns the user and system CPU time pid has used, from
// /proc/pid/stat (fields 14 and 15, in clock ticks of 1/100 s on Linux).
func CPUTime(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name may hold spaces; fields start after its ')'.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	var utime, stime int64
	fmt.Sscan(f[11], &utime)
	fmt.Sscan(f[12], &stime)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// Serving reads a tower's output until it says "serving URL ..." and
// returns the URL; the rest of the output is read and dropped.
func Serving(sc *bufio.Scanner) (string, error) {
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "serving "); ok {
			url, _, _ := strings.Cut(rest, " ")
			go func() {
				for sc.Scan() {
				}
			}()
			return url, nil
		}
	}
	return "", fmt.Errorf("tower exited before serving")
}

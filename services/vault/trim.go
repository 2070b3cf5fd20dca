package vault

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// TrimBinaryPages drops this process's mappings of its own executable's
// read-only pages (code, read-only data, the function tables), so that
// its resident set is what it touches from then on, not what package
// initialisation of the whole multi-call binary touched once (with the
// kernel's fault-around, that is nearly all of it). The pages stay in the
// page cache, shared with every other service of the binary; a page the
// vault needs again is mapped back from there on its next touch, without
// reading the disk. Writable mappings are left alone: dropping them would
// lose data. It returns how many bytes of mappings it dropped.
func TrimBinaryPages() (int, error) {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return 0, fmt.Errorf("trim binary pages: %w", err)
	}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return 0, fmt.Errorf("trim binary pages: %w", err)
	}
	defer f.Close()
	type span struct{ lo, hi uintptr }
	var spans []span
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// 00400000-0095c000 r-xp 00000000 08:01 1234 /usr/bin/skerry
		fs := strings.Fields(sc.Text())
		if len(fs) < 6 || fs[5] != exe || strings.Contains(fs[1], "w") {
			continue
		}
		lo, hi, _ := strings.Cut(fs[0], "-")
		a, err1 := strconv.ParseUint(lo, 16, 64)
		b, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		spans = append(spans, span{uintptr(a), uintptr(b)})
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("trim binary pages: %w", err)
	}
	n := 0
	for _, s := range spans {
		if _, _, e := unix.Syscall(unix.SYS_MADVISE, s.lo, s.hi-s.lo, unix.MADV_DONTNEED); e != 0 {
			return n, fmt.Errorf("trim binary pages: madvise %#x-%#x: %w", s.lo, s.hi, e)
		}
		n += int(s.hi - s.lo)
	}
	return n, nil
}

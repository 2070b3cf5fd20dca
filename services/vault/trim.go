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
// lose data, and so are read-only ones with anonymous (copied on write)
// pages, such as a position-independent binary's relocated data made
// read-only after relocation: only pages that are the file's are dropped.
// (Private_Dirty is no guide: a binary written a moment ago has dirty
// page-cache pages that are still the file's.) It returns how
// many bytes of mappings it dropped.
func TrimBinaryPages() (int, error) {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return 0, fmt.Errorf("trim binary pages: %w", err)
	}
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return 0, fmt.Errorf("trim binary pages: %w", err)
	}
	defer f.Close()
	type span struct {
		lo, hi uintptr
		dirty  bool
	}
	var spans []span
	cur := -1 // index of the exe's read-only mapping being read
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) >= 5 && strings.Contains(fs[0], "-") && !strings.HasSuffix(fs[0], ":") {
			// A mapping: 00400000-0095c000 r-xp 00000000 08:01 1234 /usr/bin/skerry
			cur = -1
			if len(fs) < 6 || fs[5] != exe || strings.Contains(fs[1], "w") {
				continue
			}
			lo, hi, _ := strings.Cut(fs[0], "-")
			a, err1 := strconv.ParseUint(lo, 16, 64)
			b, err2 := strconv.ParseUint(hi, 16, 64)
			if err1 != nil || err2 != nil {
				continue
			}
			spans = append(spans, span{lo: uintptr(a), hi: uintptr(b)})
			cur = len(spans) - 1
			continue
		}
		// A field of the mapping: "Anonymous:   0 kB".
		if cur >= 0 && len(fs) >= 2 && fs[0] == "Anonymous:" && fs[1] != "0" {
			spans[cur].dirty = true
		}
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("trim binary pages: %w", err)
	}
	n := 0
	for _, s := range spans {
		if s.dirty {
			continue
		}
		if _, _, e := unix.Syscall(unix.SYS_MADVISE, s.lo, s.hi-s.lo, unix.MADV_DONTNEED); e != 0 {
			return n, fmt.Errorf("trim binary pages: madvise %#x-%#x: %w", s.lo, s.hi, e)
		}
		n += int(s.hi - s.lo)
	}
	return n, nil
}

package blockdev

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// mount is one line of /proc/self/mountinfo, reduced to what tells which
// device a file system lives on.
type mount struct {
	dev    string // "major:minor" of the file system's device
	point  string // where it is mounted
	source string // the mount source, such as /dev/sdb1
}

// parseMountinfo parses the format proc(5) documents for
// /proc/<pid>/mountinfo:
//
//	36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
//
// A variable number of optional fields precede the "-" separator.
func parseMountinfo(r io.Reader) ([]mount, error) {
	var mounts []mount
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		sep := -1
		for i := 6; i < len(f); i++ {
			if f[i] == "-" {
				sep = i
				break
			}
		}
		if sep < 0 || sep+2 >= len(f) {
			return nil, fmt.Errorf("parse mountinfo: malformed line %q", sc.Text())
		}
		mounts = append(mounts, mount{dev: f[2], point: unescape(f[4]), source: unescape(f[sep+2])})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read mountinfo: %w", err)
	}
	return mounts, nil
}

// parseSwaps returns the file names in /proc/swaps, after its header line.
func parseSwaps(r io.Reader) ([]string, error) {
	var names []string
	sc := bufio.NewScanner(r)
	for first := true; sc.Scan(); first = false {
		if f := strings.Fields(sc.Text()); !first && len(f) > 0 {
			names = append(names, unescape(f[0]))
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read swaps: %w", err)
	}
	return names, nil
}

// unescape undoes the kernel's octal escapes of space, tab, newline and
// backslash in mount points and sources ("/media/my\040disk").
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

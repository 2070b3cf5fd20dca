package image

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"

	"github.com/skerry/skerry/services/contract"
)

// Entry is one file, directory or symlink of the initramfs.
type Entry struct {
	Path   string      // absolute path in the image, e.g. /bin/skerry
	Mode   fs.FileMode // permission bits plus fs.ModeDir or fs.ModeSymlink
	Data   []byte      // contents of a small file
	Source string      // or: a file on the host to copy
	Link   string      // symlink target
	Major  uint32      // device numbers of a character device
	Minor  uint32
}

func (e Entry) String() string {
	switch {
	case e.Mode&fs.ModeDir != 0:
		return fmt.Sprintf("mkdir -m %o %s", e.Mode.Perm(), e.Path)
	case e.Mode&fs.ModeSymlink != 0:
		return fmt.Sprintf("ln -s %s %s", e.Link, e.Path)
	case e.Mode&fs.ModeCharDevice != 0:
		return fmt.Sprintf("mknod -m %o %s c %d %d", e.Mode.Perm(), e.Path, e.Major, e.Minor)
	case e.Source != "":
		return fmt.Sprintf("install -m %o %s %s", e.Mode.Perm(), e.Source, e.Path)
	}
	return fmt.Sprintf("write -m %o %s (%d bytes)", e.Mode.Perm(), e.Path, len(e.Data))
}

// Tree is the rootfs described as data: a set of entries keyed by path.
// Parent directories are added implicitly with mode 0755.
type Tree struct{ entries map[string]Entry }

// NewTree returns an empty tree.
func NewTree() *Tree { return &Tree{entries: map[string]Entry{}} }

// Add adds or replaces an entry and creates its parents.
func (t *Tree) Add(e Entry) {
	e.Path = path.Clean("/" + e.Path)
	for dir := path.Dir(e.Path); dir != "/"; dir = path.Dir(dir) {
		if _, ok := t.entries[dir]; !ok {
			t.entries[dir] = Entry{Path: dir, Mode: fs.ModeDir | 0o755}
		}
	}
	t.entries[e.Path] = e
}

// Sorted returns the entries in a stable order: /init first, so that even a
// truncated unpack leaves init there to explain what happened, then by
// path, so that a directory always precedes its contents.
func (t *Tree) Sorted() []Entry {
	out := make([]Entry, 0, len(t.entries))
	for _, e := range t.entries {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool {
		if (out[i].Path == "/init") != (out[j].Path == "/init") {
			return out[i].Path == "/init"
		}
		return out[i].Path < out[j].Path
	})
	return out
}

// CompleteMarker is contract.CompleteMarker, appended to every archive.
const CompleteMarker = contract.CompleteMarker

// WriteCPIO writes the tree as a newc cpio archive with every timestamp,
// owner and inode number fixed, so the same tree gives the same bytes. The
// marker entry is appended last with the number of entries before it.
func (t *Tree) WriteCPIO(w io.Writer) (int64, error) {
	cw := &countWriter{w: w}
	entries := t.Sorted()
	entries = append(entries, Entry{Path: CompleteMarker, Mode: 0o444, Data: fmt.Appendf(nil, "%d\n", len(entries))})
	for i, e := range entries {
		if err := writeEntry(cw, uint32(i+1), e); err != nil {
			return cw.n, fmt.Errorf("write %s: %w", e.Path, err)
		}
	}
	if err := writeHeader(cw, 0, 0, 0, 1, "TRAILER!!!"); err != nil {
		return cw.n, err
	}
	return cw.n, nil
}

const (
	cpioDir     = 0o040000
	cpioFile    = 0o100000
	cpioSymlink = 0o120000
	cpioChar    = 0o020000
)

func writeEntry(w *countWriter, ino uint32, e Entry) error {
	name := strings.TrimPrefix(e.Path, "/")
	perm := uint32(e.Mode.Perm()) | uint32(e.Mode&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)>>12)
	switch {
	case e.Mode&fs.ModeDir != 0:
		return writeHeader(w, ino, cpioDir|perm, 0, 2, name)
	case e.Mode&fs.ModeSymlink != 0:
		if err := writeHeader(w, ino, cpioSymlink|0o777, len(e.Link), 1, name); err != nil {
			return err
		}
		return w.writePadded([]byte(e.Link))
	case e.Mode&fs.ModeCharDevice != 0:
		return writeHeaderDev(w, ino, cpioChar|perm, e.Major, e.Minor, name)
	}
	data := e.Data
	if e.Source != "" {
		var err error
		if data, err = os.ReadFile(e.Source); err != nil {
			return err
		}
	}
	if err := writeHeader(w, ino, cpioFile|perm, len(data), 1, name); err != nil {
		return err
	}
	return w.writePadded(data)
}

func writeHeader(w *countWriter, ino, mode uint32, size int, nlink uint32, name string) error {
	return writeHeaderFull(w, ino, mode, size, nlink, 0, 0, name)
}

func writeHeaderDev(w *countWriter, ino, mode, major, minor uint32, name string) error {
	return writeHeaderFull(w, ino, mode, 0, 1, major, minor, name)
}

func writeHeaderFull(w *countWriter, ino, mode uint32, size int, nlink, rmajor, rminor uint32, name string) error {
	// newc: magic, ino, mode, uid, gid, nlink, mtime, filesize, devmajor,
	// devminor, rdevmajor, rdevminor, namesize, check; then the name, NUL,
	// padded to 4 bytes.
	hdr := fmt.Sprintf("070701%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x%08x",
		ino, mode, 0, 0, nlink, 0, size, 0, 0, rmajor, rminor, len(name)+1, 0)
	return w.writePadded(append([]byte(hdr+name), 0))
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) writePadded(b []byte) error {
	n, err := c.w.Write(b)
	c.n += int64(n)
	if err != nil {
		return err
	}
	if pad := (4 - c.n%4) % 4; pad > 0 {
		n, err = c.w.Write(make([]byte, pad))
		c.n += int64(n)
	}
	return err
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

package blockdev

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// Image is a GPT disk image opened for reading.
type Image struct {
	*os.File
	Path string
	Size int64
	GPT  GPT
	info os.FileInfo // to tell whether a target is the image itself
}

// OpenImage opens the disk image at path and checks with ReadGPT that it is
// one. The caller closes it.
func OpenImage(path string) (*Image, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("image %s does not exist: build one with `make image`: %w", path, err)
	}
	if err != nil {
		return nil, fmt.Errorf("open image: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("stat image: %w", err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("image %s is a %s, not a file: %w", path, kind(fi.Mode()), ErrNotImage)
	}
	g, err := ReadGPT(f, fi.Size())
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("image %s: %w; give the disk image `make image` builds", path, err)
	}
	return &Image{File: f, Path: path, Size: fi.Size(), GPT: g, info: fi}, nil
}

// kind names a file type for error messages.
func kind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "directory"
	case m&fs.ModeDevice != 0 && m&fs.ModeCharDevice != 0:
		return "character device"
	case m&fs.ModeDevice != 0:
		return "block device"
	case m.IsRegular():
		return "regular file"
	}
	return m.Type().String()
}

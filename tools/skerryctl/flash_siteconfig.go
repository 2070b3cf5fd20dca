//go:build linux

package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path"

	diskfs "github.com/diskfs/go-diskfs"
	"github.com/diskfs/go-diskfs/backend/file"
	"github.com/diskfs/go-diskfs/filesystem/fat32"
	"github.com/diskfs/go-diskfs/partition/gpt"

	"github.com/skerry/skerry/services/contract"
	"github.com/skerry/skerry/services/siteconfig"
)

// siteConfig is a validated site config to put on the flashed disk's EFI
// system partition, and where that partition lies.
type siteConfig struct {
	source string
	data   []byte
	esp    espLocation
}

// espLocation is the EFI system partition's place on the disk, in bytes.
type espLocation struct {
	start, size, sectorSize int64
}

// loadSiteConfig checks everything about --site-config that can be checked
// before the device is touched: the file parses as a site config, and the
// image has an EFI system partition with a FAT32 file system to hold it.
func loadSiteConfig(src, imagePath string, sectorSize int) (*siteConfig, error) {
	data, err := os.ReadFile(src)
	if err != nil {
		return nil, fmt.Errorf("site config: %w; nothing was written", err)
	}
	if _, err := siteconfig.Parse(data); err != nil {
		return nil, fmt.Errorf("site config %s: %w; nothing was written", src, err)
	}
	esp, err := findESP(imagePath, sectorSize)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w; --site-config needs an image built by mkimage; nothing was written", imagePath, err)
	}
	// Read the partition as the writer will, on the image: a file system
	// the writer cannot use is found before the device is overwritten.
	f, err := os.Open(imagePath)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if _, err := fat32.Read(file.New(f, true), esp.size, esp.start, esp.sectorSize); err != nil {
		return nil, fmt.Errorf("image %s: the EFI system partition is not a FAT32 file system skerryctl can write (%w); nothing was written", imagePath, err)
	}
	return &siteConfig{source: src, data: data, esp: esp}, nil
}

// findESP finds the partition named contract.ESPLabel in the image's GPT.
func findESP(imagePath string, sectorSize int) (espLocation, error) {
	d, err := diskfs.Open(imagePath, diskfs.WithOpenMode(diskfs.ReadOnly), diskfs.WithSectorSize(diskfs.SectorSize(sectorSize)))
	if err != nil {
		return espLocation{}, err
	}
	defer d.Close()
	t, ok := d.Table.(*gpt.Table)
	if !ok {
		return espLocation{}, fmt.Errorf("no GPT partition table")
	}
	for _, p := range t.Partitions {
		if p != nil && p.Name == contract.ESPLabel {
			return espLocation{start: p.GetStart(), size: p.GetSize(), sectorSize: int64(sectorSize)}, nil
		}
	}
	return espLocation{}, fmt.Errorf("no partition named %q (the EFI system partition)", contract.ESPLabel)
}

// writeTo writes the site config onto the EFI system partition of the
// flashed device, syncs it and reads it back through a fresh view of the
// file system.
func (c *siteConfig) writeTo(device string) error {
	f, err := os.OpenFile(device, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	fsys, err := fat32.Read(file.New(f, false), c.esp.size, c.esp.start, c.esp.sectorSize)
	if err != nil {
		return fmt.Errorf("read the EFI system partition: %w", err)
	}
	dir := "/" + path.Dir(contract.ESPSiteConfig)
	if err := fsys.Mkdir(dir); err != nil {
		return fmt.Errorf("mkdir %s: %w", dir, err)
	}
	name := "/" + contract.ESPSiteConfig
	w, err := fsys.OpenFile(name, os.O_CREATE|os.O_RDWR|os.O_TRUNC)
	if err != nil {
		return fmt.Errorf("open %s: %w", name, err)
	}
	if _, err := w.Write(c.data); err != nil {
		w.Close()
		return fmt.Errorf("write %s: %w", name, err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("close %s: %w", name, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync: %w", err)
	}
	fsys, err = fat32.Read(file.New(f, true), c.esp.size, c.esp.start, c.esp.sectorSize)
	if err != nil {
		return fmt.Errorf("read back: %w", err)
	}
	r, err := fsys.OpenFile(name, os.O_RDONLY)
	if err != nil {
		return fmt.Errorf("read back %s: %w", name, err)
	}
	defer r.Close()
	got, err := io.ReadAll(r)
	if err != nil {
		return fmt.Errorf("read back %s: %w", name, err)
	}
	if !bytes.Equal(got, c.data) {
		return fmt.Errorf("read back %s: %d bytes that differ from the %d written", name, len(got), len(c.data))
	}
	return nil
}

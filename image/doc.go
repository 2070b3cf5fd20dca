// Package image builds Skerry's site images: it fetches a board's Debian
// kernel and modules, cross-builds the Go binaries, containerd and runc,
// writes the initramfs and the GPT disk image, and records a manifest of
// everything that went in.
package image

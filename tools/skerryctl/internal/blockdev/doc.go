// Package blockdev writes disk images onto block devices and reads them back
// to verify them. It also answers the questions to ask before overwriting a
// disk: is this file a GPT disk image, is the device big enough, is it
// mounted or holding the running system, is it a partition. A regular file
// is accepted as a target everywhere a block device is, for tests and
// development. README.md explains how verification avoids the page cache.
package blockdev

package tpm

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// openDevice opens a TPM device (/dev/tpmrm0) for reading and writing,
// blocking.
//
// os.OpenFile makes a character device non-blocking and hands it to Go's
// poller. On a non-blocking /dev/tpmrm0 the kernel runs each command
// asynchronously, and a read before the response is ready returns 0 bytes
// (not EAGAIN), which Go reports as EOF; the response then stays pending
// and the next write fails with EBUSY. A blocking descriptor makes each
// write run the command to completion, so the following read has the
// whole response. (go-tpm's linuxtpm.Open has this flaw; it shows only
// when the TPM is slow, as swtpm under QEMU's emulation is.)
func openDevice(path string) (*os.File, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return nil, fmt.Errorf("open TPM %s: %w", path, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFCHR {
		return nil, fmt.Errorf("open TPM %s: not a character device", path)
	}
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open TPM %s: %w", path, err)
	}
	// os.NewFile keeps a blocking descriptor out of the poller: reads and
	// writes block in the kernel, as the device's protocol needs.
	return os.NewFile(uintptr(fd), path), nil
}

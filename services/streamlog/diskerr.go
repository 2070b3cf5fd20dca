package streamlog

import (
	"errors"
	"fmt"
	"strings"
	"syscall"
)

// mapDiskErr turns "no space left" into ErrDiskFull. bbolt formats some
// errors with %s, losing the errno, so the message is checked too.
func mapDiskErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) ||
		strings.Contains(err.Error(), "no space left on device") ||
		strings.Contains(err.Error(), "disk quota exceeded") {
		return fmt.Errorf("%w: %v; free space on the data filesystem, appends resume by themselves", ErrDiskFull, err)
	}
	return err
}

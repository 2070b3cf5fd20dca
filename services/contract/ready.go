package contract

import (
	"fmt"
	"regexp"
	"strconv"
	"time"
)

// ReadyLine is the one line init prints on the console when every service
// is ready; test benches and the boot benchmark wait for it.
type ReadyLine struct {
	Version, Board string
	// SinceKernel is the time from the kernel's start (its clock) to ready;
	// SinceInit from /init's first instruction.
	SinceKernel, SinceInit time.Duration
	BootID                 string
}

// String formats the line as init prints it (after its "init: " prefix).
func (r ReadyLine) String() string {
	return fmt.Sprintf("ready: Skerry %s on %s, %.2fs since kernel start, %.2fs since /init started, boot id %s",
		r.Version, r.Board, r.SinceKernel.Seconds(), r.SinceInit.Seconds(), r.BootID)
}

// ReadyLineRE matches the ready line in console output. Its groups are the
// version, the board, the seconds since kernel start, the seconds since
// /init started and the boot id.
var ReadyLineRE = regexp.MustCompile(`init: ready: Skerry (\S*) on (\S*), ([0-9.]+)s since kernel start, ([0-9.]+)s since /init started, boot id (\S*)`)

// ParseReadyLine finds the ready line in s.
func ParseReadyLine(s string) (ReadyLine, bool) {
	m := ReadyLineRE.FindStringSubmatch(s)
	if m == nil {
		return ReadyLine{}, false
	}
	k, err1 := strconv.ParseFloat(m[3], 64)
	i, err2 := strconv.ParseFloat(m[4], 64)
	if err1 != nil || err2 != nil {
		return ReadyLine{}, false
	}
	return ReadyLine{Version: m[1], Board: m[2], SinceKernel: seconds(k), SinceInit: seconds(i), BootID: m[5]}, true
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

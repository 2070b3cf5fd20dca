package contract

import (
	"testing"
	"time"
)

func TestReadyLineRoundTrip(t *testing.T) {
	in := ReadyLine{Version: "5cc5ae4", Board: "qemu-x86_64", SinceKernel: 5850 * time.Millisecond, SinceInit: 2750 * time.Millisecond, BootID: "0f1e"}
	console := "[    5.860] init: " + in.String() + "\r\n"
	got, ok := ParseReadyLine(console)
	if !ok {
		t.Fatalf("ParseReadyLine(%q): no match", console)
	}
	if got != in {
		t.Errorf("ParseReadyLine(%q): got %+v, want %+v", console, got, in)
	}
	if _, ok := ParseReadyLine("init: ready to go"); ok {
		t.Error("ParseReadyLine matched a line that is not the ready line")
	}
}

package workload

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseReservedPort(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want ReservedPort
		err  bool
	}{
		{in: "tcp/8080=the site's status API", want: ReservedPort{"tcp", 8080, "the site's status API"}},
		{in: "udp/68", want: ReservedPort{"udp", 68, "a service of the site"}},
		{in: "sctp/80=x", err: true},
		{in: "tcp/0=x", err: true},
		{in: "tcp/65536=x", err: true},
		{in: "8080=x", err: true},
		{in: "tcp/http=x", err: true},
	} {
		got, err := ParseReservedPort(tc.in)
		if tc.err {
			if err == nil || !strings.Contains(err.Error(), "PROTOCOL/PORT=OWNER") {
				t.Errorf("ParseReservedPort(%q): got %+v, %v; want an error showing the form", tc.in, got, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseReservedPort(%q): %v", tc.in, err)
			continue
		}
		if d := cmp.Diff(tc.want, got); d != "" {
			t.Errorf("ParseReservedPort(%q) (-want +got):\n%s", tc.in, d)
		}
	}
}

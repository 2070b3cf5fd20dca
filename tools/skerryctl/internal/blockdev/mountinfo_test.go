package blockdev

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseMountinfo(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []mount
		wantErr bool
	}{
		{
			name: "proc(5) example",
			in:   "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue\n",
			want: []mount{{dev: "98:0", point: "/mnt2", source: "/dev/root"}},
		},
		{
			name: "no optional fields, escaped space",
			in:   "27 1 8:17 / /media/my\\040stick rw,relatime - vfat /dev/sdb1 rw\n",
			want: []mount{{dev: "8:17", point: "/media/my stick", source: "/dev/sdb1"}},
		},
		{
			name: "several optional fields, anonymous device",
			in:   "41 27 0:38 / / rw shared:1 master:2 propagate_from:3 - btrfs /dev/nvme0n1p2 rw\n",
			want: []mount{{dev: "0:38", point: "/", source: "/dev/nvme0n1p2"}},
		},
		{
			name:    "no separator",
			in:      "36 35 98:0 /mnt1 /mnt2 rw,noatime ext3 /dev/root rw\n",
			wantErr: true,
		},
		{
			name:    "truncated after separator",
			in:      "36 35 98:0 /mnt1 /mnt2 rw - ext3\n",
			wantErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseMountinfo(strings.NewReader(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("parseMountinfo: got error %v, want error %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(mount{})); diff != "" {
				t.Errorf("parseMountinfo (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseSwaps(t *testing.T) {
	in := `Filename				Type		Size		Used		Priority
/dev/sdb3                               partition	1048572		0		-2
/swap\040file                           file		524284		0		-3
`
	got, err := parseSwaps(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"/dev/sdb3", "/swap file"}, got); diff != "" {
		t.Errorf("parseSwaps (-want +got):\n%s", diff)
	}
}

func TestUnescape(t *testing.T) {
	for in, want := range map[string]string{
		`/plain`:         "/plain",
		`/a\040b`:        "/a b",
		`/tab\011nl\012`: "/tab\tnl\n",
		`/back\134slash`: `/back\slash`,
		`/short\04`:      `/short\04`,
		`/not\0xyoctal`:  `/not\0xyoctal`,
	} {
		if got := unescape(in); got != want {
			t.Errorf("unescape(%q): got %q, want %q", in, got, want)
		}
	}
}
